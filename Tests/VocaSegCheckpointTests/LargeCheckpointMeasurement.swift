#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
import VocaSegCheckpoint

/// Opt-in measurement on a large checkpoint (see `--large` in Scripts/reference/make_checkpoint_fixtures.py):
///   VOCASEG_LARGE_CHECKPOINT=/tmp/errseg-L-like.pth swift test --filter LargeCheckpointMeasurement
/// Converts every tensor and drops it, so peak RSS shows that storages are mapped lazily, not read eagerly.
@Suite("large checkpoint measurement")
struct LargeCheckpointMeasurement {
    static let path = ProcessInfo.processInfo.environment["VOCASEG_LARGE_CHECKPOINT"]

    @Test("open and convert every tensor of a large checkpoint", .enabled(if: path != nil))
    func measure() throws {
        let path = try #require(Self.path)
        let start = Date()
        let checkpoint = try CheckpointFile.open(path: path)
        let opened = Date()
        var checksum = 0.0
        var largest = 0
        for tensor in checkpoint.tensors where tensor.elementCount > 0 {
            let values = tensor.float32()
            checksum += Double(values[0]) + Double(values[values.count - 1])
            largest = max(largest, tensor.byteCount)
        }
        let done = Date()
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
        #else
        getrusage(RUSAGE_SELF, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1_048_576 // bytes on macOS
        #endif
        print("large checkpoint: \(checkpoint.tensors.count) tensors, \(CheckpointSummary(checkpoint).totalBytes) "
              + "bytes; open \(opened.timeIntervalSince(start)) s, convert \(done.timeIntervalSince(opened)) s; "
              + "checksum \(checksum); peak RSS \(peakMB) MB")
        // Converting one tensor at a time may hold the largest tensor twice (mapped pages + copy), plus the
        // process baseline; anything near the file size would mean eager reads.
        #expect(peakMB < Double(2 * largest) / 1_048_576 + 300)
    }
}
