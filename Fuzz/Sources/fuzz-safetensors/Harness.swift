import CheckpointFuzzSupport
import FuzzSupport

/// The bytes are a whole file opened by content: with a `{` at offset 8 it goes to the safetensors reader (header
/// length, JSON header, offsets against the data section). Other bytes go to the other readers, which is fine.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    CheckpointFuzz.exercise(path: Fuzz.write(data, size, to: "input.safetensors"))
    return 0
}
