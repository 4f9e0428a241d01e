/// The shape and bounds checks at the entry of every op (public: model code with raw-pointer loops checks the same way).
///
/// Why not `precondition`: this module is built with `-Ounchecked` in release, which deletes preconditions, so a
/// wrong shape would reach the raw-pointer kernels and corrupt memory silently. `fatalError` survives every
/// optimisation level, so these checks run in the build users run. They are per call (a few comparisons), never
/// per element.
@inline(__always)
public func opCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if _slowPath(!condition()) { fatalError(message(), file: file, line: line) }
}
