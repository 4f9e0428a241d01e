import FuzzSupport
import VocaSegApp

/// The bytes are a pipeline file, loaded the way `vocaseg segment --pipeline` and `vocaseg watch` load it (UTF-8
/// check, YAML, strict field validation), then applied to the segment options.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Fuzz.write(data, size, to: "pipeline.yaml")
    do {
        let pipeline = try PipelineFile.load(path: path)
        var options = SegmentOptions()
        options.inputs = ["clip.mp4"]
        pipeline.apply(to: &options, explicitlySet: [])
        // Flag-level checks name no file by design (they are about the command line); only crashes count here.
        _ = try? options.validateFlags()
    } catch {
        Fuzz.checkRejection(error, namesFileUnder: path)
    }
    return 0
}
