import Foundation
import Testing
import VocaSegCore
import VocaSegMedia
@testable import VocaSegApp

/// Outputs under conditions users meet: folders of pictures of different sizes, a disk that fills up, temporaries
/// left by a killed run, and a CPU the kernels cannot run on.
@Suite(.serialized) struct OutputRobustnessTests {
    func options(_ input: String, output: String?, dir: URL) -> SegmentOptions {
        var o = SegmentOptions()
        o.inputs = [input]
        o.output = output
        o.classes = "sky, tree, road, person"
        o.masksDirectory = dir.appendingPathComponent("masks").path
        o.jsonLinesPath = dir.appendingPathComponent("out.jsonl").path
        o.progress = .never
        return o
    }

    /// Three pictures of three sizes and two formats.
    func makePhotoFolder(in dir: URL) throws -> (folder: URL, sizes: [String: (Int, Int)]) {
        let folder = dir.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let sizes: [String: (Int, Int)] = ["beach.png": (64, 48), "city.jpg": (33, 17), "forest.png": (101, 7)]
        for (name, (w, h)) in sizes {
            try ImageFileWriter.write(FrameSizeSweepTests.pattern(width: w, height: h, frame: 1),
                                      to: folder.appendingPathComponent(name).path)
        }
        return (folder, sizes)
    }

    @Test func aFolderOfPicturesOfDifferentSizesGivesAFolderOfOverlays() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (folder, sizes) = try makePhotoFolder(in: dir)
        let out = dir.appendingPathComponent("overlays").path + "/"
        let reports = try SegmentJob(options: options(folder.path, output: out, dir: dir),
                                     modelProvider: { _ in QuadrantModel() }).run()
        #expect(reports.first?.frames == 3)
        let expectedNames = ["beach.png": "beach.png", "city.jpg": "city.jpg", "forest.png": "forest.png"]
        for (input, output) in expectedNames {
            let path = dir.appendingPathComponent("overlays/\(output)").path
            let frame = try #require(try MediaSource(path: path).nextFrame(), "\(output) missing")
            #expect(frame.image.width == sizes[input]!.0 && frame.image.height == sizes[input]!.1, "\(output)")
            let mask = try #require(try MediaSource(path: dir.appendingPathComponent(
                "masks/" + (input as NSString).deletingPathExtension + ".png").path).nextFrame())
            #expect(mask.image.width == sizes[input]!.0 && mask.image.height == sizes[input]!.1)
        }
        // Nothing else in the folder: no staging leftovers.
        let listed = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("overlays").path)
        #expect(Set(listed) == Set(expectedNames.values))
        let lines = try String(contentsOfFile: dir.appendingPathComponent("out.jsonl").path, encoding: .utf8)
            .split(whereSeparator: \.isNewline).dropFirst()
        let images = try lines.map { line -> String in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try #require(object?["image"] as? String)
        }
        #expect(images == ["beach.png", "city.jpg", "forest.png"])
    }

    @Test func aFolderOfPicturesOfDifferentSizesIntoOneVideoIsAClearUsageError() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (folder, _) = try makePhotoFolder(in: dir)
        let out = dir.appendingPathComponent("all.mp4").path
        #expect {
            try SegmentJob(options: options(folder.path, output: out, dir: dir),
                           modelProvider: { _ in QuadrantModel() }).run()
        } throws: { error in
            guard let e = error as? VocaSegError else { return false }
            return e.kind == .usage && e.description.contains("city.jpg is 33x17")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out.jsonl").path))
    }

    /// A 256 KiB tmpfs fills up while the overlay video is written: an I/O error (exit 5) naming the OS error, and
    /// no output under a final name. Needs permission to mount (root, as in CI); skipped otherwise.
    @Test func aFullDiskIsAnIOErrorAndLeavesNothing() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        let mounted = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", small.path])
        try #require(mounted.status == 0 || !Self.isRoot, "mount failed as root: \(mounted.stderr)")
        guard mounted.status == 0 else { return }
        defer { _ = try? run("/bin/umount", [small.path]) }
        var o = options(Repo.sample("clip_640x360_aac.mp4"), output: small.appendingPathComponent("out.mp4").path,
                        dir: small)
        o.crf = 0  // lossless: far more than 256 KiB
        #expect {
            try SegmentJob(options: o, modelProvider: { _ in QuadrantModel() }).run()
        } throws: { error in
            guard let e = error as? VocaSegError else { return false }
            return e.kind == .io && e.exitCode == 5 && e.description.contains("No space left on device")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: small.path)
        #expect(!left.contains("out.mp4") && !left.contains("out.jsonl"), "left behind: \(left)")
        #expect(left.allSatisfy { !$0.contains(".partial-") }, "temporaries left: \(left)")
    }

    static var isRoot: Bool { getuid() == 0 }

    /// AddressSanitizer's shadow memory does not map under qemu-user, so the CPU test skips in the ASan pass.
    static var underASan: Bool { dlsym(nil, "__asan_init") != nil }

    /// `.name.partial-PID.ext` of a dead PID is removed by the next writer of that output; a live PID's is kept.
    @Test func temporariesOfKilledRunsAreRemovedOnlyWhenTheirProcessIsGone() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer {
            sleeper.terminate()
            sleeper.waitUntilExit()
        }
        // A PID that is certainly not running: a child that has exited and been reaped.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let deadName = ".out.partial-\(gone.processIdentifier).mp4"
        let liveName = ".out.partial-\(sleeper.processIdentifier).mp4"
        let otherName = ".other.partial-\(gone.processIdentifier).mp4"
        for name in [deadName, liveName, otherName] {
            try Data([1, 2, 3]).write(to: dir.appendingPathComponent(name))
        }
        let file = try AtomicOutputFile(finalPath: dir.appendingPathComponent("out.mp4").path)
        try file.write(Data([4, 5, 6]))
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: dir.path))
        #expect(left == [liveName, otherName, "out.mp4"])
    }

    /// On a CPU without AVX2/FMA the CLI says so in one line and exits 1 instead of dying of SIGILL (run under
    /// qemu-user's emulation of an older CPU; skipped where qemu-x86_64 is not installed).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-x86_64") && !Self.underASan))
    func anOldCPUGetsAClearMessage() throws {
        let old = try run("/usr/bin/qemu-x86_64", ["-cpu", "Nehalem", Repo.cli, "segment", Repo.sample("still.png"),
                                                   "--classes", "a, b", "-o", "/dev/null"])
        #expect(old.status == 1)
        #expect(old.stderr.contains("vocaseg: this CPU lacks AVX2 and FMA"), "\(old.stderr)")
        let current = try run("/usr/bin/qemu-x86_64", ["-cpu", "Haswell", Repo.cli, "--version"])
        #expect(current.status == 0, "\(current.stderr)")
    }
}
