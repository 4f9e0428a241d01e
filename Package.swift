// swift-tools-version:6.0
// VocaSeg: open-vocabulary video segmentation on the CPU.
//
// Layering (dependencies run strictly downward):
//   vocaseg (CLI, argument parsing only)
//     └─ VocaSegFarm       watch-folder jobs shared by many workers through a PostgreSQL queue
//     └─ VocaSegApp        job orchestration: segment, inspect, bench, watch
//          ├─ VocaSegPipeline   bounded decode → preprocess → infer → overlay → write, stage timings
//          ├─ VocaSegMedia      FFmpeg demux/decode/scale/encode/mux
//          ├─ VocaSegRender     overlay blending, palette, FreeType text
//          └─ VocaSegModels     CLIP, tokenizer, ERR-Seg
//               ├─ VocaSegCheckpoint  .pth (restricted unpickler), safetensors, weight store
//               └─ VocaSegTensor      tensors and ops over OpenBLAS
//   VocaSegCore: vocabulary, model protocol and error codes shared by all of the above.
import Foundation
import PackageDescription

// The PostgreSQL job queue (`VocaSegFarm`) brings swift-nio, swift-nio-ssl and swift-crypto, minutes of build on two
// cores. CI's AddressSanitizer and release-golden passes test nothing of it and build without it
// (VOCASEG_WITHOUT_FARM=1); the `vocaseg` commands `worker` and `watch --queue` exist only in builds with it.
let withFarm = ProcessInfo.processInfo.environment["VOCASEG_WITHOUT_FARM"] == nil

let package = Package(
    name: "VocaSeg",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vocaseg", targets: ["vocaseg"]),
        .library(name: "VocaSeg", targets: ["VocaSegApp"]),
        .library(name: "VocaSegTensor", targets: ["VocaSegTensor"]),
        .library(name: "VocaSegMedia", targets: ["VocaSegMedia"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ] + (withFarm ? [
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ] : []),
    targets: [
        // MARK: System libraries
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavformat libavcodec libswscale libavutil libavfilter",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev", "libavfilter-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CFreeType", pkgConfig: "freetype2", providers: [.apt(["libfreetype-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Swift cannot import FFmpeg's function-like macros (AVERROR, AV_NOPTS_VALUE …): a small C shim.
        .target(name: "CFFmpegShim", dependencies: ["CFFmpeg"]),
        // CPUID check run by the CLI before any AVX2 code, built for the baseline CPU.
        .target(name: "CCPUFeatures"),
        // bfloat16 GEMM kernels for `--precision bf16` (AVX512_BF16, chosen at run time). Always optimised: the
        // tests run them in debug builds too, and unoptimised intrinsics would keep every accumulator in memory.
        .target(name: "CAVX512Kernels", cSettings: [.unsafeFlags(["-O3"])]),

        // MARK: Libraries
        .target(name: "VocaSegCore"),
        .target(name: "VocaSegTensor", dependencies: ["COpenBLAS", "CAVX512Kernels"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                                // AVX2 + FMA codegen for the SIMD8 kernels (x86-64 baseline turns every lane-wise
                                // fma into a libm call); needs an x86-64-v3 CPU (Haswell / Zen or newer).
                                .unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux]))]),
        .target(name: "VocaSegCheckpoint", dependencies: ["VocaSegCore"]),
        .target(name: "VocaSegMedia", dependencies: ["CFFmpeg", "CFFmpegShim", "VocaSegCore"]),
        .target(name: "VocaSegRender", dependencies: ["CFreeType", "VocaSegCore"]),
        .target(name: "VocaSegPipeline", dependencies: [
            "VocaSegCore", .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .target(name: "VocaSegModels", dependencies: ["VocaSegCore", "VocaSegTensor", "VocaSegCheckpoint", "CZlib"]),
        .target(name: "VocaSegApp", dependencies: [
            "VocaSegCore", "VocaSegMedia", "VocaSegRender", "VocaSegPipeline", "VocaSegModels",
            "VocaSegCheckpoint", "VocaSegTensor", .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"), .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .executableTarget(name: "vocaseg", dependencies: [
            "VocaSegApp", "CCPUFeatures", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ] + (withFarm ? ["VocaSegFarm"] : [])),

        // MARK: Tests
        // Golden-file readers and repository paths shared by the test targets; not part of the product.
        // Also the stand-in panoptic model and its synthetic clip, shared by the app tests and the watch harness.
        .target(name: "VocaSegTestSupport", dependencies: ["VocaSegCore"], exclude: ["README.md"]),
        .testTarget(name: "VocaSegTensorTests", dependencies: ["VocaSegTestSupport", "VocaSegTensor"], resources: [.copy("Goldens")]),
        .testTarget(name: "VocaSegCheckpointTests", dependencies: ["VocaSegTestSupport", "VocaSegCheckpoint", "VocaSegCore"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "VocaSegMediaTests", dependencies: ["VocaSegTestSupport", "VocaSegMedia", "VocaSegCore"]),
        .testTarget(name: "VocaSegRenderTests", dependencies: ["VocaSegTestSupport", "VocaSegRender", "VocaSegCore"]),
        .testTarget(name: "VocaSegPipelineTests", dependencies: ["VocaSegTestSupport", "VocaSegPipeline", "VocaSegCore"]),
        .testTarget(name: "VocaSegModelsTests", dependencies: ["VocaSegTestSupport", "VocaSegModels", "VocaSegTensor", "VocaSegCheckpoint", "VocaSegMedia"],
                    resources: [.copy("Goldens")]),
        // A watcher with a stand-in model, run (and killed) as a real process by the watch tests.
        .executableTarget(name: "WatchHarness", dependencies: [
            "VocaSegApp", "VocaSegCore", "VocaSegTestSupport", .product(name: "Logging", package: "swift-log"),
        ] + (withFarm ? ["VocaSegFarm"] : []), path: "Tests/WatchHarness"),
        .testTarget(name: "VocaSegAppTests", dependencies: ["VocaSegTestSupport", "VocaSegApp", "VocaSegCore",
                                                           "VocaSegMedia", "VocaSegModels", "WatchHarness"]),
    ] + (withFarm ? [
        // Watch-folder jobs shared by many workers on many machines through a PostgreSQL queue.
        .target(name: "VocaSegFarm", dependencies: [
            "VocaSegApp", "VocaSegCore", "VocaSegPipeline", .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "VocaSegFarmTests", dependencies: ["VocaSegFarm", "VocaSegApp", "VocaSegCore",
                                                            "VocaSegTestSupport", "WatchHarness"]),
    ] : []),
    // Swift 5 mode: the engine and the pixel loops share raw buffers across `concurrentPerform` chunks that write
    // disjoint ranges; Swift 6's Sendable checking cannot see that and would force wrappers into every kernel.
    swiftLanguageModes: [.v5]
)
