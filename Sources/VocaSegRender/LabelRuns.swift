/// Label maps are long runs of one class; finding where a run ends, 16 labels per comparison, lets the blend and
/// the class counts work per run instead of per pixel.
enum LabelRuns {
    /// First index in `start..<end` where `row` differs from `label` (or `end`), comparing 16 labels per step.
    @inline(__always)
    static func end(of label: UInt16, in row: UnsafePointer<UInt16>, from start: Int, to end: Int) -> Int {
        var i = start
        let wanted = SIMD16<UInt16>(repeating: label)
        while i + 16 <= end {
            let block = UnsafeRawPointer(row + i).loadUnaligned(as: SIMD16<UInt16>.self)
            if any(block .!= wanted) { break }
            i += 16
        }
        while i < end && row[i] == label { i += 1 }
        return i
    }

    /// First index in `start..<end` where `first` or `second` differs from `label` (or `end`).
    @inline(__always)
    static func end(of label: UInt16, in first: UnsafePointer<UInt16>, and second: UnsafePointer<UInt16>,
                    from start: Int, to end: Int) -> Int {
        var i = start
        let wanted = SIMD16<UInt16>(repeating: label)
        while i + 16 <= end {
            let a = UnsafeRawPointer(first + i).loadUnaligned(as: SIMD16<UInt16>.self)
            let b = UnsafeRawPointer(second + i).loadUnaligned(as: SIMD16<UInt16>.self)
            if any((a .!= wanted) .| (b .!= wanted)) { break }
            i += 16
        }
        while i < end && first[i] == label && second[i] == label { i += 1 }
        return i
    }
}
