import CZlib
import Foundation
import VocaSegCore

/// The merge list of CLIP's byte-level BPE, read from `bpe_simple_vocab_16e6.txt.gz`.
///
/// The file is gzip-compressed text: a header line, then one merge per line (`"t h"`, `"th e</w>"` …) in rank order.
/// CLIP uses only the first 48,894 merges (49152 − 256 − 2 of them, so that 256 byte symbols, their 256 `</w>`
/// variants, the merges and two special tokens make a 49,408-entry vocabulary); the rest of the file is ignored.
struct TokenizerVocabularyFile {
    /// How many merges CLIP's vocabulary uses: `lines[1 : 49152 - 256 - 2 + 1]` in open_clip.
    static let mergeCount = 49152 - 256 - 2

    /// Each merge as the UTF-8 bytes of its two halves, rank order (index = rank).
    let merges: [(left: ArraySlice<UInt8>, right: ArraySlice<UInt8>)]

    init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw VocaSegError(
                .model, "the CLIP tokenizer vocabulary is missing; run Scripts/setup.sh or set VOCASEG_MODELS",
                path: path)
        }
        let compressed: Data
        do { compressed = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw VocaSegError(.model, "cannot read the CLIP tokenizer vocabulary: \(error.localizedDescription)",
                               path: path)
        }
        let bytes = try Self.gunzip(compressed, path: path)
        // open_clip splits on "\n" only, skips the header line and splits each merge on whitespace; the symbols
        // never contain whitespace (bytes that are whitespace have stand-ins at U+0100…), so ASCII spaces suffice.
        // Only the first lines are used (the file has about 262,000), so only those are split and validated.
        var lineStarts: [Int] = [0]
        lineStarts.reserveCapacity(Self.mergeCount + 2)
        var position = 0
        while lineStarts.count <= Self.mergeCount + 1,
              let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) {
            position = newline + 1
            lineStarts.append(position)
        }
        if lineStarts.count <= Self.mergeCount + 1 { lineStarts.append(bytes.count + 1) }  // last line, unterminated
        guard lineStarts.count > Self.mergeCount + 1 else {
            throw VocaSegError(
                .model,
                "the CLIP tokenizer vocabulary has \(max(lineStarts.count - 2, 0)) merges, expected at least \(Self.mergeCount)",
                path: path)
        }
        let used = bytes[0..<(lineStarts[Self.mergeCount + 1] - 1)]
        guard String(validating: used, as: UTF8.self) != nil else {
            throw VocaSegError(.model, "the CLIP tokenizer vocabulary is not UTF-8 text", path: path)
        }
        var merges: [(left: ArraySlice<UInt8>, right: ArraySlice<UInt8>)] = []
        merges.reserveCapacity(Self.mergeCount)
        for lineIndex in 1...Self.mergeCount {
            let line = bytes[lineStarts[lineIndex]..<(lineStarts[lineIndex + 1] - 1)]
            let halves = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })
            guard halves.count == 2 else {
                throw VocaSegError(
                    .model, "the CLIP tokenizer vocabulary line \(lineIndex + 1) is not a merge of two symbols", path: path)
            }
            merges.append((halves[0], halves[1]))
        }
        self.merges = merges
    }

    /// Decompresses a whole gzip member with zlib (`16 + MAX_WBITS` selects the gzip wrapper).
    static func gunzip(_ data: Data, path: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw VocaSegError(.internal, "zlib could not start decompressing", path: path)
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(data.count * 3)
        let chunkSize = 1 << 16
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let base = input.bindMemory(to: Bytef.self).baseAddress else {
                throw VocaSegError(.model, "the CLIP tokenizer vocabulary is empty", path: path)
            }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(input.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunkSize)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunkSize - Int(stream.avail_out)
                }
                output.append(contentsOf: chunk[0..<produced])
                if status == Z_BUF_ERROR && stream.avail_in == 0 { break }
            } while status == Z_OK
        }
        guard status == Z_STREAM_END else {
            throw VocaSegError(.model, "the CLIP tokenizer vocabulary is not a complete gzip file", path: path)
        }
        return output
    }
}
