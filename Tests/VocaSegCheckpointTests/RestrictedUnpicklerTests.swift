import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

/// A comparable picture of what the unpickler built.
indirect enum Plain: Equatable {
    case int(Int), float(Double), string(String), bool(Bool), none, list([Plain]), dict([String: Plain])
    case other(String)

    init(_ value: PickleValue) {
        switch value {
        case .int(let number): self = .int(number)
        case .float(let number): self = .float(number)
        case .string(let text): self = .string(text)
        case .bool(let flag): self = .bool(flag)
        case .none: self = .none
        case .tuple(let tuple): self = .list(tuple.items.map(Plain.init))
        case .list(let list): self = .list(list.items.map(Plain.init))
        case .dict(let dict):
            var entries: [String: Plain] = [:]
            for (key, value) in zip(dict.keys, dict.values) { entries[TorchCheckpointReader.keyName(key)] = Plain(value) }
            self = .dict(entries)
        default: self = .other(value.kindName)
        }
    }
}

func unpickle(_ bytes: [UInt8], limits: RestrictedUnpickler.Limits = .init()) throws -> Plain {
    try bytes.withUnsafeBytes { raw in
        let unpickler = RestrictedUnpickler(data: raw, path: "test.pkl", limits: limits)
        defer { unpickler.tearDown() }
        return Plain(try unpickler.load())
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
        index = next
    }
    return bytes
}

@Suite("restricted unpickler")
struct RestrictedUnpicklerTests {
    /// The object Scripts/reference/make_checkpoint_fixtures.py pickled with protocols 0-5.
    static let sample: Plain = .dict([
        "int": .int(7), "neg": .int(-300), "big": .int(1 << 40), "huge_neg": .int(-(1 << 62)), "float": .float(1.5),
        "str": .string("h\u{e9}llo \u{2603}"), "list": .list([.int(1), .int(2), .string("x")]),
        "tuple": .list([.bool(true), .bool(false), .none]), "nested": .dict(["k": .list([.float(0.25), .float(-1e300)])]),
        "empty": .dict([:]), "od": .dict(["a": .int(1), "b": .int(2)]),
        "shared": .list([.list([.int(1), .int(2)]), .list([.int(1), .int(2)])]),
    ])

    @Test("Python's pickles of every protocol 0-5 decode to the same object", arguments: 0...5)
    func protocols(version: Int) throws {
        let data = try Data(contentsOf: try Fixtures.directory.appendingPathComponent("protocols.json"))
        let samples = try JSONDecoder().decode([String: String].self, from: data)
        let hex = try #require(samples[String(version)])
        #expect(try unpickle(hexBytes(hex)) == Self.sample)
    }

    @Test("limits on stack, memo, nesting and total items are enforced")
    func limits() throws {
        // 64 NONEs inside a MARK, then a LIST: 64 stack entries and 64 list items.
        let wide: [UInt8] = [0x80, 0x02, 0x28] + [UInt8](repeating: 0x4E, count: 64) + [0x6C, 0x2E]
        #expect(try unpickle(wide) == .list([Plain](repeating: .none, count: 64)))
        #expect(throws: VocaSegError.self) { try unpickle(wide, limits: .init(maxStackDepth: 32)) }
        #expect(throws: VocaSegError.self) { try unpickle(wide, limits: .init(maxContainerItems: 63)) }
        let deep: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 20) + [0x2E]
        #expect(throws: VocaSegError.self) { try unpickle(deep, limits: .init(maxNesting: 10)) }
        let memo: [UInt8] = [0x80, 0x02, 0x4E, 0x72, 0x00, 0x01, 0x00, 0x00, 0x2E] // LONG_BINPUT 256
        #expect(try unpickle(memo) == .none)
        #expect(throws: VocaSegError.self) { try unpickle(memo, limits: .init(maxMemoIndex: 255)) }
    }

    @Test("a REDUCE on an allowed but non-tensor global yields a placeholder, never a call")
    func harmlessGlobalIsOpaque() throws {
        // builtins.set(()) as protocol 2 writes it.
        let bytes: [UInt8] = [0x80, 0x02, 0x63] + Array("builtins\nset\n".utf8) + [0x29, 0x52, 0x2E]
        #expect(try unpickle(bytes) == .other("builtins.set"))
    }

    @Test("globals outside the allowlist are refused by name", arguments: [
        "os\nsystem\n", "subprocess\nPopen\n", "builtins\ngetattr\n", "torch\nload\n", "numpy\nload\n",
    ])
    func refusedGlobals(global: String) throws {
        let bytes: [UInt8] = [0x80, 0x02, 0x63] + Array(global.utf8) + [0x2E]
        let error = try #require(throws: VocaSegError.self) { try unpickle(bytes) }
        let name = global.split(separator: "\n").joined(separator: ".")
        #expect(error.message.contains("refused global \(name)"))
        #expect(error.kind == .model)
    }

    @Test("truncated pickles and unknown opcodes fail cleanly at every cut point")
    func everyTruncation() throws {
        let data = try Data(contentsOf: try Fixtures.directory.appendingPathComponent("protocols.json"))
        let samples = try JSONDecoder().decode([String: String].self, from: data)
        for hex in samples.values {
            let bytes = hexBytes(hex)
            for cut in 0..<(bytes.count - 1) {
                #expect(throws: VocaSegError.self) { try unpickle(Array(bytes[..<cut])) }
            }
        }
        #expect(throws: VocaSegError.self) { try unpickle([0x80, 0x02, 0xFF]) }
    }
}
