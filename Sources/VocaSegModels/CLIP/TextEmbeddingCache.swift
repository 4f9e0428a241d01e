import Foundation
import VocaSegTensor
import VocaSegCore

/// Text embeddings on disk, so that the next run with the same checkpoint and vocabulary skips the text encoder
/// (hundreds of prompts through a 12-16 layer transformer).
///
/// The key covers everything the embeddings depend on: the weights (a content digest of the checkpoint file, or
/// the seed and config for random weights), the embedding width, every template and every prompted name with its
/// class (so a synonym moved to another class is another key). One file per key: a header (magic, row count,
/// width, class count, each class's row count), then R×D float32 values, for any number of rows per class;
/// written under a temporary name and renamed, and checked on read (a truncated or foreign file is ignored and
/// rewritten).
public final class TextEmbeddingCache: @unchecked Sendable {
    public let directory: String
    /// What identifies the weights, e.g. `sha:…` of the checkpoint or `random:seed0:errseg-b`.
    public let weightsIdentity: String
    private static let magic: UInt32 = 0x5654_4532  // "VTE2": rows grouped by class

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

    /// `layout` names how rows are grouped when it is not the first layout (one row per prompted name).
    func key(templates: [String], names: [[String]], width: Int, layout: String = "") -> String {
        var h = FNV1a64()
        h.add(weightsIdentity)
        h.add("\u{1}\(width)\u{1}")
        if !layout.isEmpty { h.add("\u{3}" + layout + "\u{3}") }
        for t in templates { h.add(t); h.add("\u{0}") }
        for group in names {
            h.add("\u{2}")
            for n in group { h.add(n); h.add("\u{0}") }
        }
        return String(format: "%016llx", h.value)
    }

    func path(templates: [String], names: [[String]], width: Int, layout: String = "") -> String {
        let name = key(templates: templates, names: names, width: width, layout: layout)
        return (directory as NSString).appendingPathComponent("\(name).bin")
    }

    /// The cached rows for these names and templates, or nil when absent or unusable. `groupSizes`: rows per
    /// class (default: one per prompted name).
    public func load(templates: [String], names: [[String]], width: Int, groupSizes: [Int]? = nil,
                     layout: String = "") -> TextEmbeddingRows? {
        let sizes = groupSizes ?? names.map(\.count), rows = sizes.reduce(0, +)
        let header = 16 + 4 * sizes.count
        let file = path(templates: templates, names: names, width: width, layout: layout)
        guard let data = FileManager.default.contents(atPath: file),
              data.count == header + rows * width * 4
        else { return nil }
        return data.withUnsafeBytes { raw -> TextEmbeddingRows? in
            func word(_ i: Int) -> Int { Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            guard UInt32(word(0)) == TextEmbeddingCache.magic, word(1) == rows, word(2) == width, word(3) == sizes.count,
                  sizes.indices.allSatisfy({ word(4 + $0) == sizes[$0] })
            else { return nil }
            let t = Tensor(uninitializedShape: [rows, width])
            memcpy(t.data, raw.baseAddress! + header, rows * width * 4)
            return TextEmbeddingRows(embeddings: t, groups: TextEmbeddingRows.groups(sizes: sizes))
        }
    }

    /// Stores the rows; failures (read-only home, full disk) are not errors, the cache is only a speed-up.
    public func store(_ rows: TextEmbeddingRows, templates: [String], names: [[String]], layout: String = "") {
        let width = rows.embeddings.shape[1]
        let c = rows.embeddings.contiguous()
        var data = Data(capacity: 16 + 4 * names.count + c.count * 4)
        let words = [TextEmbeddingCache.magic, UInt32(c.shape[0]), UInt32(width), UInt32(names.count)]
            + rows.groups.map { UInt32($0.count) }
        for v in words { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        data.append(UnsafeBufferPointer(start: c.data, count: c.count))
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = path(templates: templates, names: names, width: width, layout: layout)
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
