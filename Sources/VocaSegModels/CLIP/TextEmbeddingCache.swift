import Foundation
import VocaSegTensor
import VocaSegCore

/// Text embeddings on disk, so that the next run with the same checkpoint and vocabulary skips the text encoder
/// (hundreds of prompts through a 12-16 layer transformer).
///
/// The key covers everything the embeddings depend on: the weights (a content digest of the checkpoint file, or
/// the seed and config for random weights), the embedding width, and every prompt verbatim (so the template and
/// the class names are in it). One file per key: a small header, then T×D float32 values; written under a
/// temporary name and renamed, and checked on read (a truncated or foreign file is ignored and rewritten).
public final class TextEmbeddingCache: @unchecked Sendable {
    public let directory: String
    /// What identifies the weights, e.g. `sha:…` of the checkpoint or `random:seed0:errseg-b`.
    public let weightsIdentity: String
    private static let magic: UInt32 = 0x5654_4531  // "VTE1"

    public init(directory: String, weightsIdentity: String) {
        self.directory = directory
        self.weightsIdentity = weightsIdentity
    }

    /// `$VOCASEG_CACHE`, else `$XDG_CACHE_HOME/vocaseg`, else `~/.cache/vocaseg`; embeddings live in
    /// `text-embeddings/` below it.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let dir = environment["VOCASEG_CACHE"], !dir.isEmpty { return dir + "/text-embeddings" }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.cache"
        return base + "/vocaseg/text-embeddings"
    }

    func key(prompts: [String], width: Int) -> String {
        var h = FNV1a64()
        h.add(weightsIdentity)
        h.add("\u{1}\(width)\u{1}")
        for p in prompts { h.add(p); h.add("\u{0}") }
        return String(format: "%016llx", h.value)
    }

    func path(prompts: [String], width: Int) -> String {
        (directory as NSString).appendingPathComponent("\(key(prompts: prompts, width: width)).bin")
    }

    /// The cached [T, width] embeddings, or nil when absent or unusable.
    public func load(prompts: [String], width: Int) -> Tensor? {
        guard let data = FileManager.default.contents(atPath: path(prompts: prompts, width: width)),
              data.count == 12 + prompts.count * width * 4
        else { return nil }
        return data.withUnsafeBytes { raw -> Tensor? in
            guard raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self) == TextEmbeddingCache.magic,
                  Int(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == prompts.count,
                  Int(raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == width
            else { return nil }
            let t = Tensor(uninitializedShape: [prompts.count, width])
            memcpy(t.data, raw.baseAddress! + 12, prompts.count * width * 4)
            return t
        }
    }

    /// Stores the embeddings; failures (read-only home, full disk) are not errors, the cache is only a speed-up.
    public func store(_ embeddings: Tensor, prompts: [String]) {
        let width = embeddings.shape[1]
        let c = embeddings.contiguous()
        var data = Data(capacity: 12 + c.count * 4)
        for v in [TextEmbeddingCache.magic, UInt32(prompts.count), UInt32(width)] {
            withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
        }
        data.append(UnsafeBufferPointer(start: c.data, count: c.count))
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = path(prompts: prompts, width: width)
        let temp = final + ".partial-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: data) else { return }
        if rename(temp, final) != 0 { unlink(temp) }
    }

    /// A content digest of a (large) file, remembered per path, size and mtime so that it is computed once per
    /// checkpoint version (reading 0.75-1.5 GB takes about a second).
    public static func fileIdentity(path: String, cacheDirectory: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "path:\(path)" }
        let stamp = "\(st.st_size)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)-\(st.st_ino)"
        var keyHash = FNV1a64()
        keyHash.add(URL(fileURLWithPath: path).standardizedFileURL.path + "|" + stamp)
        let memo = (cacheDirectory as NSString).appendingPathComponent(String(format: "digest-%016llx.txt", keyHash.value))
        if let text = try? String(contentsOfFile: memo, encoding: .utf8), text.hasPrefix("fnv:") { return text }
        guard let digest = FileDigest.fnv1a(path) else { return "path:\(path)|\(stamp)" }
        let identity = "fnv:" + digest
        try? FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        try? identity.write(toFile: memo, atomically: true, encoding: .utf8)
        return identity
    }
}
