import ArgumentParser
import Foundation
import Logging
import VocaSegApp
import VocaSegCore

/// Exit codes: 0 ok, 1 internal error, 2 usage, 3 unreadable or corrupt input, 4 model or weights problem,
/// 130 interrupted.
@main
struct Vocaseg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocaseg",
        abstract: "Open-vocabulary segmentation of videos and images on the CPU.",
        discussion: """
            Exit codes: 0 ok, 1 internal error, 2 usage, 3 unreadable or corrupt input, \
            4 model or weights problem, 130 interrupted.
            """,
        version: VocaSegVersion.string,
        subcommands: [Segment.self, Watch.self, Jobs.self, Bench.self, Inspect.self, WatchJob.self],
        defaultSubcommand: Segment.self
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as VocaSegError {
            FileHandle.standardError.write("vocaseg: \(error.description)\n".data(using: .utf8)!)
            Foundation.exit(error.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version
            }
            let message = fullMessage(for: error)
            if code == .validationFailure {
                // ArgumentParser's own usage errors (EX_USAGE 64) become our usage code 2.
                FileHandle.standardError.write("\(message)\n".data(using: .utf8)!)
                Foundation.exit(2)
            }
            FileHandle.standardError.write("vocaseg: \(message)\n".data(using: .utf8)!)
            Foundation.exit(code == .failure ? 1 : code.rawValue)
        }
    }
}

/// Logging to stderr; `-q` keeps errors only, `-v` adds progress details.
func bootstrapLogging(quiet: Bool, verbose: Bool) {
    let level: Logger.Level = quiet ? .error : (verbose ? .info : .warning)
    // FFmpeg's own log lines are not one-line errors naming the file; we report its errors ourselves.
    Diagnostics.setFFmpegLogging(verbose: verbose)
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
