import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

@Suite("inspection")
struct CheckpointSummaryTests {
    @Test("totals, per-tensor sizes and JSON encoding")
    func summary() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("basic.pth"))
        let summary = CheckpointSummary(checkpoint)
        let expected = try Fixtures.expected("basic.pth")
        #expect(summary.tensorCount == expected.count)
        #expect(summary.totalElements == expected.reduce(0) { $0 + $1.values.count })
        let f16 = try #require(summary.tensors.first { $0.name == "f16" })
        #expect(f16.byteCount == 12 && f16.elementCount == 6 && f16.dtype == .float16)
        let json = try JSONEncoder().encode(summary)
        let decoded = try JSONDecoder().decode(CheckpointSummary.self, from: json)
        #expect(decoded == summary)
        #expect(String(decoding: json, as: UTF8.self).contains("\"dtype\":\"bfloat16\""))
    }
}

@Suite("inspection text")
struct CheckpointSummaryTextTests {
    @Test("the text rendering has a header and one line per tensor")
    func text() throws {
        let summary = CheckpointSummary(try CheckpointFile.open(path: try Fixtures.path("detectron2.pth")))
        let lines = summary.text.split(separator: "\n")
        #expect(lines.count == 4 + summary.tensorCount)
        #expect(lines.contains("skipped: optimizer, scheduler, iteration"))
        #expect(lines.last?.contains("2.bias") == true)
        #expect(CheckpointSummary.megabytes(1_572_864) == "1.5 MiB")
    }
}
