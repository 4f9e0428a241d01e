/// The one error type that crosses module boundaries and reaches the user.
///
/// Every failure the CLI reports is one of these: a one-line message that names the file (when there is one)
/// and the problem, plus the kind, which fixes the process exit code. Modules may have richer internal errors,
/// but they convert to this at their public surface.
public struct VocaSegError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A bug or an unexpected failure of a library (exit 1).
        case `internal`
        /// The command line or pipeline file asks for something impossible (exit 2).
        case usage
        /// An input is missing, unreadable or corrupt (exit 3).
        case input
        /// A model, checkpoint or weights problem (exit 4).
        case model
        /// Writing an output failed while the job ran: disk full, I/O error, file-size limit (exit 5). The message
        /// names the operating system's error.
        case io
        /// The user interrupted the run (exit 130).
        case interrupted
    }

    public var kind: Kind
    /// The file the problem is about, if any. Printed first so that the line reads `path: problem`.
    public var path: String?
    public var message: String

    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    public var exitCode: Int32 {
        switch kind {
        case .internal: return 1
        case .usage: return 2
        case .input: return 3
        case .model: return 4
        case .io: return 5
        case .interrupted: return 130
        }
    }

    /// One line, `path: message`, with no trailing newline.
    public var description: String {
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        if let path { return "\(path): \(oneLine)" }
        return oneLine
    }
}
