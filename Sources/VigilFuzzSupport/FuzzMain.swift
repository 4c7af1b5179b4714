import Foundation
import VigilCore

/// One fuzz target: a parser of outside input and what must hold for any input (a trap or a
/// failed precondition is a finding), with seeds written from real output of the code.
public struct FuzzTarget: Sendable {
    public let name: String
    public let run: @Sendable ([UInt8]) -> Void
    public let seeds: @Sendable () -> [[UInt8]]

    public init(_ name: String, seeds: @escaping @Sendable () -> [[UInt8]] = { [] }, run: @escaping @Sendable ([UInt8]) -> Void) {
        self.name = name
        self.run = run
        self.seeds = seeds
    }
}

/// The fuzz executables' entry point (scripts/fuzz).
///
/// Built with `-sanitize=fuzzer -D VIGIL_FUZZ`: libFuzzer's driver runs the target named by
/// `VIGIL_FUZZ_TARGET`; with `VIGIL_FUZZ_SEEDS=<dir>` the target's seeds are written there first
/// and the process exits. In a normal build:
///
///     vigil-fuzz list
///     vigil-fuzz seeds <dir>                      every target's seeds, in <dir>/<target>/
///     vigil-fuzz replay <target> <file>...        a corpus or a crash reproducer
///     vigil-fuzz mutate <target> <runs> [<seed>]  a short, coverage-blind run from the seeds
public enum FuzzMain {
    public static func run(_ targets: [FuzzTarget]) -> Never {
        let environment = ProcessInfo.processInfo.environment
        #if VIGIL_FUZZ
        let name = environment["VIGIL_FUZZ_TARGET"] ?? targets[0].name
        guard let target = targets.first(where: { $0.name == name }) else { fail("no fuzz target \(name); targets: \(targets.map(\.name))") }
        if let directory = environment["VIGIL_FUZZ_SEEDS"] {
            writeSeeds(target, to: directory)
            exit(0)
        }
        selected = target
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            selected?.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
        #else
        _ = environment
        let arguments = Array(CommandLine.arguments.dropFirst())
        func target(_ name: String) -> FuzzTarget {
            guard let found = targets.first(where: { $0.name == name }) else {
                fail("no fuzz target \(name); targets: \(targets.map(\.name).joined(separator: ", "))")
            }
            return found
        }
        switch arguments.first {
        case "list"?:
            for target in targets { print(target.name) }
        case "seeds"? where arguments.count == 2:
            for target in targets { writeSeeds(target, to: arguments[1] + "/" + target.name) }
        case "replay"? where arguments.count >= 2:
            let chosen = target(arguments[1])
            for path in arguments.dropFirst(2) {
                guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
                chosen.run(Array(data))
            }
            print("replayed \(arguments.count - 2) input(s) through \(chosen.name) without a finding")
        case "mutate"? where arguments.count >= 3:
            let chosen = target(arguments[1])
            guard let runs = Int(arguments[2]), runs > 0 else { fail("runs: expected a positive number") }
            let seed = arguments.count > 3 ? UInt64(arguments[3]) ?? 1 : 1
            var random = SplitMix64(seed: seed)
            let seeds = chosen.seeds()
            var mutator = Mutator(seeds: seeds.isEmpty ? [[]] : seeds)
            for _ in 0..<runs { chosen.run(mutator.next(using: &random)) }
            print("fuzz \(chosen.name): \(runs) mutated inputs from \(seeds.count) seeds (random seed \(seed)) without a finding")
        default:
            fail("usage: vigil-fuzz list | seeds <dir> | replay <target> <file>... | mutate <target> <runs> [<seed>]")
        }
        exit(0)
        #endif
    }

    static func writeSeeds(_ target: FuzzTarget, to directory: String) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, seed) in target.seeds().enumerated() {
            guard FileManager.default.createFile(atPath: directory + "/seed-\(index)", contents: Data(seed)) else {
                fail("cannot write \(directory)/seed-\(index)")
            }
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(2)
    }
}

#if VIGIL_FUZZ
/// libFuzzer's driver, linked in by `-sanitize=fuzzer`. SwiftPM names the executable's entry
/// point itself, so libFuzzer's own `main` is not used: control goes to its driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The target libFuzzer's C callback runs (it can capture nothing).
nonisolated(unsafe) private var selected: FuzzTarget?
#endif
