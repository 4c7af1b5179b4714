// swift-tools-version: 6.1
import PackageDescription

// Module layout follows ../shared/ARCHITECTURE.md: dependencies point downward only,
// and the pure modules (Core, Protocol) import nothing that does I/O.
let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "vigil-bench", targets: ["VigilBench"]),
        .executable(name: "vigil-fuzz", targets: ["VigilFuzz"]),
        .executable(name: "vigil-fuzz-agent", targets: ["VigilFuzzAgent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // Linux's adjtimex (sys/timex.h, which Glibc's module does not export): clock sync state.
        .systemLibrary(name: "CLinuxTime"),
        // Pure value types and small algorithms shared by every layer.
        .target(name: "VigilCore"),
        // Pure: topic scheme, frame codec, HMAC (computation only, no I/O).
        .target(
            name: "VigilProtocol",
            dependencies: ["VigilCore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Pure: replay/duplicate/gap tracking, clock mapping, rate limits.
        .target(name: "VigilValidation", dependencies: ["VigilCore", "VigilProtocol"]),
        // Pure parsers and formats of what reaches the agent from outside its process besides
        // frames: the audit log's lines and their check, the hospital's answers (transaction
        // responses, OperationOutcome, token responses). Light, so the fuzzer builds fast.
        .target(name: "VigilFormats", dependencies: ["VigilCore", .product(name: "Crypto", package: "swift-crypto")]),
        // Pure, integer-only scoring: NEWS2 (and, with issue 5, baselines, drift, quality, alerts).
        .target(name: "VigilModels", dependencies: ["VigilCore"]),
        // Pure: the models on live readings (signal quality, NEWS2, drift, quantized models) and
        // the alert lifecycle across them, as typed alert events; `vigil score`.
        .target(name: "VigilScoring", dependencies: ["VigilCore", "VigilModels"]),
        // The encrypted store-and-forward log: segment format and AEAD (pure), and every
        // file-system call behind one protocol so tests can inject faults and crashes.
        .target(
            name: "VigilStore",
            dependencies: [
                "VigilCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The hospital uplink: FHIR mapping (pure), the HTTP transport, and the services that
        // forward the log (FHIR, or an upstream MQTT broker) with their dead letters.
        .target(
            name: "VigilUplink",
            dependencies: [
                "VigilCore",
                "VigilFormats",
                "VigilModels",
                "VigilProtocol",
                "VigilStore",
                "VigilMQTT",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The only module that touches libmosquitto.
        .target(
            name: "VigilMQTT",
            dependencies: [
                "CMosquitto",
                "VigilCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The device registry, provisioning (broker password file and ACL, boot files) and the
        // hash-chained audit log: what `vigil sensor …`, `keys` and `audit` do, and the registry
        // the pipeline reads.
        .target(
            name: "VigilProvisioning",
            dependencies: [
                "VigilCore",
                "VigilFormats",
                "VigilProtocol",
                "VigilValidation",
                "VigilStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Composition root: configuration, services, metrics, sd_notify.
        .target(
            name: "VigilAgent",
            dependencies: [
                "VigilCore",
                "VigilFormats",
                "VigilProtocol",
                "VigilValidation",
                "VigilModels",
                "VigilScoring",
                "VigilProvisioning",
                "VigilMQTT",
                "VigilStore",
                "VigilUplink",
                "CLinuxTime",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilAgent",
                "VigilFormats",
                "VigilScoring",
                "VigilProvisioning",
                "VigilStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Long runs (throughput, stalled consumer, connect cycles) with a short mode for the tests.
        .executableTarget(
            name: "VigilBench",
            dependencies: [
                "VigilMQTT",
                "VigilProtocol",
                "VigilAgent",
                "VigilProvisioning",
                "VigilStore",
                "VigilModels",
                "VigilScoring",
                "VigilUplink",
                "VigilValidation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        // libFuzzer targets for the parsers in light modules (scripts/fuzz): frames, alert
        // acknowledgements, patient settings, audit lines, the hospital's answers; a corpus
        // replayer and mutator otherwise.
        .executableTarget(name: "VigilFuzz", dependencies: ["VigilCore", "VigilProtocol", "VigilValidation", "VigilScoring", "VigilFormats",
                                                            "VigilFuzzSupport", .product(name: "Crypto", package: "swift-crypto")]),
        // The fuzz targets inside the agent module (configuration, control requests): a slow
        // libFuzzer build, so the suite runs them as a short mutating run (scripts/fuzz).
        .executableTarget(name: "VigilFuzzAgent", dependencies: [
            "VigilAgent", "VigilProvisioning", "VigilFuzzSupport",
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The fuzz executables' driver (libFuzzer's, or replay and a short mutating run).
        .target(name: "VigilFuzzSupport", dependencies: ["VigilCore"]),
        .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore"]),
        .testTarget(name: "VigilProtocolTests", dependencies: ["VigilProtocol"]),
        .testTarget(name: "VigilModelsTests", dependencies: ["VigilModels", "VigilCore"]),
        .testTarget(name: "VigilStoreTests", dependencies: ["VigilStore", "VigilCore", "VigilTestSupport"]),
        .testTarget(name: "VigilUplinkTests", dependencies: ["VigilUplink", "VigilFormats", "VigilStore", "VigilTestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "VigilValidationTests", dependencies: ["VigilValidation", "VigilProtocol", "VigilCore"]),
        // The MicroPython reference firmware and codec, run under the real MicroPython unix port.
        .testTarget(name: "FirmwareTests", dependencies: ["VigilProtocol", "VigilCore", "VigilAgent", "VigilProvisioning", "VigilTestSupport", "vigil", "VigilBench"]),
        .testTarget(name: "VigilMQTTTests", dependencies: ["VigilMQTT", "VigilTestSupport", "VigilBench"]),
        .testTarget(
            name: "VigilAgentTests",
            dependencies: [
                "VigilAgent", "VigilCore", "VigilFormats", "VigilMQTT", "VigilModels", "VigilScoring", "VigilProvisioning", "VigilProtocol", "VigilStore", "VigilValidation", "VigilTestSupport", "vigil",
                "VigilBench", .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Real-process helpers for integration tests: a private mosquitto, free ports, subprocesses.
        .target(
            name: "VigilTestSupport",
            dependencies: ["VigilCore", "VigilMQTT", "VigilStore"],
            path: "Tests/VigilTestSupport"
        ),
    ],
    swiftLanguageModes: [.v6]
)
