#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VocaSegCore

/// Helpers shared by the harnesses. The project's readers take paths (FFmpeg opens by name, checkpoints are
/// memory-mapped), so each input is written to a scratch file first; on Linux the scratch folder is in /dev/shm so
/// that this costs a memory copy rather than disk I/O.
public enum Fuzz {
    /// One private folder per fuzzing process, made on first use and reused for every input.
    public static let scratch: String = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        var template = Array("\(base)/vocaseg-fuzz-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("cannot make a scratch folder in \(base)") }
        let path = String(cString: made)
        // Leave nothing behind when libFuzzer exits normally (-max_total_time, -runs).
        atexit { Fuzz.removeTree(Fuzz.scratch) }
        return path
    }()

    /// Writes `size` bytes to `scratch/name` (replacing it) and returns the full path.
    @discardableResult
    public static func write(_ data: UnsafePointer<UInt8>?, _ size: Int, to name: String) -> String {
        let path = scratch + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { fatalError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var done = 0
        while done < size, let data {
            let n = Glibc.write(fd, data + done, size - done)
            guard n > 0 else { fatalError("cannot write \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
        return path
    }

    /// Makes `scratch/name` an empty folder (removing whatever was there).
    public static func freshFolder(_ name: String) -> String {
        let path = scratch + "/" + name
        removeTree(path)
        guard mkdir(path, 0o700) == 0 else { fatalError("cannot make \(path): \(String(cString: strerror(errno)))") }
        return path
    }

    /// Removes a file or a folder one level deep (all the harnesses make).
    public static func removeTree(_ path: String) {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(dir)
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// The project's contract for bad input is a thrown `VocaSegError` whose one line names the file. Anything else
    /// that escapes (another error type, an error naming no file or another file) is a finding: abort, so that
    /// libFuzzer keeps the input.
    public static func checkRejection(_ error: Error, namesFileUnder expected: String) {
        guard let error = error as? VocaSegError else {
            fatalError("bad input escaped as \(type(of: error)) rather than VocaSegError: \(error)")
        }
        guard let path = error.path, path.hasPrefix(expected) else {
            fatalError("error does not name the input file (\(expected)): \(error)")
        }
        guard !error.description.contains(where: \.isNewline) else { fatalError("error is not one line: \(error)") }
    }
}
