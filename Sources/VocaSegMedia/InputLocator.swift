import CFFmpeg
import Foundation
import VocaSegCore

/// Works out what a user-given input path means before FFmpeg sees it, so that the common mistakes get precise
/// messages ("no such file", "the file is empty") instead of FFmpeg's generic ones.
enum InputLocator {
    enum Kind: Equatable {
        /// Anything libavformat opens by name: a file, a URL, `pipe:0`. `formatName` forces a demuxer.
        case stream(url: String, formatName: String?, isPattern: Bool)
        /// A directory of pictures, in natural sort order.
        case folder([String])
    }

    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "pgm", "ppm", "gif"]

    static func locate(_ path: String) throws -> Kind {
        if path == "-" { return .stream(url: "pipe:0", formatName: nil, isPattern: false) }
        if path.isEmpty { throw VocaSegError(.input, "the input path is empty") }
        if path.hasPrefix("file:") {
            // A file URL gets the same checks as a plain path (so errors stay precise), then FFmpeg opens the path.
            var local = String(path.dropFirst("file:".count))
            if local.hasPrefix("//") { local = String(local.dropFirst(2)) }
            let located = try locate(local)
            if case .stream = located { return .stream(url: local, formatName: nil, isPattern: false) }
            return located
        }
        // Any other protocol FFmpeg knows (http, https, rtmp, rtsp, srt, udp, pipe, …) goes to it unchecked.
        if let proto = avio_find_protocol_name(path).map({ String(cString: $0) }), proto != "file" {
            _ = MediaLibrary.configureOnce
            return .stream(url: path, formatName: nil, isPattern: false)
        }
        if isSequencePattern(path) {
            // `frame_%04d.png`: the image2 demuxer expands the number itself; check that the first file exists so
            // the error names the folder rather than saying "No such file or directory" about a pattern.
            let directory = (path as NSString).deletingLastPathComponent
            let dirPath = directory.isEmpty ? "." : directory
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dirPath, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw VocaSegError(.input, "no such directory for the image sequence pattern", path: path)
            }
            return .stream(url: path, formatName: "image2", isPattern: true)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw VocaSegError(.input, "no such file or directory", path: path)
        }
        if isDirectory.boolValue { return .folder(try imagesInFolder(path)) }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw VocaSegError(.input, "the file is not readable (permission denied)", path: path)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
        if size == 0 { throw VocaSegError(.input, "the file is empty (0 bytes)", path: path) }
        return .stream(url: path, formatName: nil, isPattern: false)
    }

    /// A printf-style frame number such as `%d`, `%04d` (what the image2 demuxer expands).
    static func isSequencePattern(_ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        return name.range(of: #"%0?[0-9]*d"#, options: .regularExpression) != nil
    }

    static func imagesInFolder(_ folder: String) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw VocaSegError(.input, "cannot list the folder: \(error.localizedDescription)", path: folder)
        }
        let images = names.filter { !$0.hasPrefix(".") && imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
        guard !images.isEmpty else {
            throw VocaSegError(.input, "the folder contains no images (\(imageExtensions.sorted().joined(separator: ", ")))",
                               path: folder)
        }
        return images.sorted(by: NaturalOrder.precedes).map { (folder as NSString).appendingPathComponent($0) }
    }
}

/// "img2" < "img10": runs of digits compare by value, everything else by characters (case-insensitively first,
/// then exactly, so the order is total and stable).
public enum NaturalOrder {
    public static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.unicodeScalars), b = Array(rhs.unicodeScalars)
        var i = 0, j = 0
        while i < a.count, j < b.count {
            if isDigit(a[i]), isDigit(b[j]) {
                let startI = i, startJ = j
                while i < a.count, isDigit(a[i]) { i += 1 }
                while j < b.count, isDigit(b[j]) { j += 1 }
                let runA = a[startI..<i].drop { $0 == "0" }, runB = b[startJ..<j].drop { $0 == "0" }
                if runA.count != runB.count { return runA.count < runB.count }
                for (x, y) in zip(runA, runB) where x != y { return x.value < y.value }
                // Same value: fewer leading zeros first ("1" < "01").
                if (i - startI) != (j - startJ) { return (i - startI) < (j - startJ) }
            } else {
                let x = lower(a[i]), y = lower(b[j])
                if x != y { return x < y }
                i += 1; j += 1
            }
        }
        if (a.count - i) != (b.count - j) { return (a.count - i) < (b.count - j) }
        return lhs < rhs
    }

    private static func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 48 && s.value <= 57 }
    private static func lower(_ s: Unicode.Scalar) -> UInt32 { (s.value >= 65 && s.value <= 90) ? s.value + 32 : s.value }
}
