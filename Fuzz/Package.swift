// swift-tools-version:6.0
// libFuzzer harnesses for VocaSeg's input parsers (issue 12). Built only by Scripts/fuzz.sh, never by CI's
// `swift test`: a fuzzer binary needs the sanitizer runtime and has libFuzzer's own `main`.
//
// Every harness defines `LLVMFuzzerTestOneInput` and no `main`, hence `-parse-as-library`.
import PackageDescription

let parseAsLibrary: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "VocaSegFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "VocaSeg", path: "..")],
    targets: [
        // Shared helpers: scratch files for the APIs that take paths, and the throw-or-return contract.
        .target(name: "FuzzSupport", dependencies: [.product(name: "VocaSegMedia", package: "VocaSeg")],
                path: "Sources/FuzzSupport"),
        // Arbitrary bytes as a media file: probe, decode every frame, convert to RGB.
        .executableTarget(name: "fuzz-media", dependencies: [
            "FuzzSupport", .product(name: "VocaSegMedia", package: "VocaSeg"),
        ], path: "Sources/fuzz-media", swiftSettings: parseAsLibrary),
        // Still pictures and folders of them, with the file extension the image2 demuxer keys on.
        .executableTarget(name: "fuzz-image", dependencies: [
            "FuzzSupport", .product(name: "VocaSegMedia", package: "VocaSeg"),
        ], path: "Sources/fuzz-image", swiftSettings: parseAsLibrary),
        // VocaSegCheckpoint is not a product of the root package; it is reached through VocaSeg (VocaSegApp depends
        // on it), which builds and links it, so its module can be imported.
        .target(name: "CheckpointFuzzSupport", dependencies: [
            "FuzzSupport", .product(name: "VocaSeg", package: "VocaSeg"),
        ], path: "Sources/CheckpointFuzzSupport"),
        // Arbitrary bytes as a whole checkpoint file: zip directory, local headers, then the pickle.
        .executableTarget(name: "fuzz-checkpoint-zip", dependencies: [
            "CheckpointFuzzSupport", "FuzzSupport",
        ], path: "Sources/fuzz-checkpoint-zip", swiftSettings: parseAsLibrary),
        // Arbitrary bytes as data.pkl inside a well-formed torch.save zip: the restricted unpickler.
        .executableTarget(name: "fuzz-unpickler", dependencies: [
            "CheckpointFuzzSupport", "FuzzSupport",
        ], path: "Sources/fuzz-unpickler", swiftSettings: parseAsLibrary),
        .executableTarget(name: "fuzz-safetensors", dependencies: [
            "CheckpointFuzzSupport", "FuzzSupport",
        ], path: "Sources/fuzz-safetensors", swiftSettings: parseAsLibrary),
        .executableTarget(name: "fuzz-pipeline", dependencies: [
            "FuzzSupport", .product(name: "VocaSeg", package: "VocaSeg"),
        ], path: "Sources/fuzz-pipeline", swiftSettings: parseAsLibrary),
    ],
    swiftLanguageModes: [.v5]
)
