import CheckpointFuzzSupport
import FuzzSupport

/// The bytes are a whole checkpoint file: zip end record, (zip64) central directory, local headers, then whatever
/// the directory leads to. The seeds are torch.save zips, so most mutations stay zips that reach the pickle.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    CheckpointFuzz.exercise(path: Fuzz.write(data, size, to: "input.pth"))
    return 0
}
