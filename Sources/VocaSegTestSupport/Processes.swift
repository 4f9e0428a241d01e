// Running programs, probing media with ffprobe and making temporary folders: shared by the app and farm tests.
import Foundation
import VocaSegCore

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdoutData: Data
    public var stderr: String
    public var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
}

/// Runs a program to completion, capturing both streams (read concurrently so a chatty child cannot block).
@discardableResult
public func run(_ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil)
    throws -> ProcessResult
{
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try? input.fileHandleForWriting.close()
    // Both pipes are drained at once (a child that fills one pipe's buffer would otherwise block); the group's
    // wait orders the reader thread's write before the read below.
    final class Drained: @unchecked Sendable { var data = Data() }
    let stdoutBox = Drained()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { stdoutBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus, stdoutData: stdoutBox.data,
                         stderr: String(decoding: errData, as: UTF8.self))
}

public func ffprobe(_ args: [String]) throws -> String {
    let r = try run("/usr/bin/ffprobe", ["-v", "error"] + args)
    guard r.status == 0 else { throw VocaSegError(.internal, "ffprobe failed: \(r.stderr)") }
    return r.stdout
}

/// Presentation times in seconds (time bases may differ between input and output containers).
public func videoFrameTimes(_ path: String) throws -> [Double] {
    // A frame with side data prints a trailing comma ("0.000000,") and an empty line after it.
    try ffprobe(["-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path])
        .split(whereSeparator: \.isNewline)
        .compactMap { $0.split(separator: ",").first.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
}

public func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
