import Foundation
import Testing
import VocaSegTestSupport

@Suite struct NpyReaderTests {
    /// Builds a version-1 .npy file in memory.
    func npy(_ descr: String, _ shape: String, _ body: [UInt8]) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        d.append(contentsOf: [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: body)
        return d
    }

    @Test func readsFloatHalfIntAndBool() throws {
        let f = try Npy.parse(npy("<f4", "(2, 1)", [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]))
        #expect(f.shape == [2, 1] && f.floats == [1, -2])
        let h = try Npy.parse(npy("<f2", "(3,)", [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00]))
        #expect(h.floats[0] == 1 && h.floats[1] == -2 && h.floats[2] == Float(sign: .plus, exponent: -24, significand: 1))
        let i = try Npy.parse(npy("<i8", "(2,)", [5, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        #expect(try i.ints() == [5, -1])
        let b = try Npy.parse(npy("|b1", "()", [1]))
        #expect(b.shape == [] && b.floats == [1])
    }

    @Test func rejectsBadFiles() {
        #expect(throws: NpyError.self) { try Npy.parse(Data([1, 2, 3])) }
        #expect(throws: NpyError.self) { try Npy.parse(npy("<f8", "(1,)", [0, 0, 0, 0, 0, 0, 0, 0])) }
        #expect(throws: NpyError.self) { try Npy.parse(npy("<f4", "(4,)", [0, 0, 0, 0])) }  // truncated data
        #expect(throws: NpyError.self) { try Npy.read("/nonexistent/file.npy") }
    }

    @Test func closenessReportsTheWorstElement() {
        let ok = closeness([1, 2, 3], [1, 2, 3.000001], atol: 1e-5)
        #expect(ok.passed)
        let bad = closeness([1, 2, 3], [1, 2.5, 3], atol: 1e-5, label: "demo")
        #expect(!bad.passed && bad.worstIndex == 1 && bad.mismatches == 1)
        #expect(bad.description.contains("demo") && bad.description.contains("[1]"))
        #expect(!closeness([1], [1, 2]).passed)
    }
}
