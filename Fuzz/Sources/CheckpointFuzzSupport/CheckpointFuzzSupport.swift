import FuzzSupport
import VocaSegCheckpoint

/// What `vocaseg inspect` and the weight loader do with a checkpoint, run on one scratch file: open it, summarise it,
/// and convert every tensor the ways the engine reads them. Reading the bytes matters: a record whose byte range or
/// strides lie about the storage only shows up when its elements are copied.
public enum CheckpointFuzz {
    public static func exercise(path: String) {
        do {
            let checkpoint = try CheckpointFile.open(path: path)
            _ = CheckpointSummary(checkpoint)
            for tensor in checkpoint.tensors {
                _ = tensor.float32()
                _ = try? tensor.int64()
                _ = tensor.contiguousBytes()
            }
        } catch {
            Fuzz.checkRejection(error, namesFileUnder: path)
        }
    }
}
