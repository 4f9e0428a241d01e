import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

@Suite("hostile checkpoints are refused without executing or allocating")
struct HostileFileTests {
    /// The marker the malicious fixtures would create if their payload ran (see make_checkpoint_fixtures.py).
    static let pwnedMarker = "/tmp/vocaseg-pwned-checkpoint-fixture"

    @Test("a pickle that calls os.system on load is refused, naming the global, and nothing runs",
          arguments: [("malicious_system.pth", "refused global posix.system"),
                      ("malicious_eval.pth", "refused global __builtin__.eval")])
    func codeExecution(file: String, message: String) throws {
        try? FileManager.default.removeItem(atPath: Self.pwnedMarker)
        let (error, _) = try refusal(file)
        #expect(error.message.contains(message), "\(error)")
        #expect(error.message.contains("nothing was executed"))
        #expect(!FileManager.default.fileExists(atPath: Self.pwnedMarker))
    }

    @Test("malformed files are refused quickly with a message about the problem", arguments: [
        ("truncated.pth", "no end-of-central-directory record"),
        ("local_offset_past_eof.pth", "local header"),
        ("entry_size_past_eof.pth", "extends past the end"),
        ("compressed_entry.pth", "is compressed"),
        ("central_directory_past_eof.pth", "central directory"),
        ("deflated_bomb.pth", "is compressed"),
        ("overflowing_shape.pth", "more elements than fit in an Int"),
        ("storage_too_short.pth", "its storage holds 4"),
        ("storage_numel_lies.pth", "declares 1000 float32 elements"),
        ("strided_past_storage.pth", "needs storage element 5"),
        ("missing_storage.pth", "storage '7' has no entry"),
        ("expansion_bomb.pth", "expands 1 stored elements to 1099511627776"),
        ("deep_tuples.pth", "nested deeper than"),
        ("deep_lists.pth", "nested deeper than"),
        ("deep_dicts.pth", "nested deeper than"),
        ("huge_memo.pth", "memo index"),
        ("missing_memo.pth", "memo index 10000 was never stored"),
        ("unterminated_pickle.pth", "unexpected end of pickle"),
        ("huge_string_length.pth", "runs past the end"),
        ("legacy.pth", "legacy"),
        ("st_header_too_long.safetensors", "header length 1099511627776 is larger than"),
        ("st_offset_past_eof.safetensors", "outside the 8-byte data section"),
        ("st_overlap.safetensors", "overlap"),
        ("st_size_mismatch.safetensors", "needs 12 bytes"),
        ("st_overflowing_shape.safetensors", "overflows"),
        ("st_not_json.safetensors", "not a JSON object"),
    ])
    func malformed(file: String, message: String) throws {
        let (error, seconds) = try refusal(file)
        #expect(error.message.contains(message), "\(file): \(error)")
        #expect(seconds < 1, "\(file) took \(seconds) s to refuse")
    }

    @Test("a file that is not a checkpoint at all")
    func notACheckpoint() throws {
        let path = Fixtures.temporaryPath("garbage.bin")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("hello, this is not a checkpoint".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: VocaSegError(.model, "not a checkpoint: neither a torch.save zip nor a safetensors file",
                                     path: path)) {
            try CheckpointFile.open(path: path)
        }
    }

    @Test("a missing file is a model error naming the path")
    func missingFile() throws {
        let path = "/nonexistent/vocaseg/model_final.pth"
        let error = try #require(throws: VocaSegError.self) { try CheckpointFile.open(path: path) }
        #expect(error.kind == .model && error.path == path)
    }
}
