import Foundation

#if VIGIL_FUZZ
/// libFuzzer's driver, linked in by `-sanitize=fuzzer`. SwiftPM names this executable's entry
/// point itself, so libFuzzer's own `main` is not used: we hand control to its driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@main
struct FuzzDriver {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzOne(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
    }
}
#else
/// Without libFuzzer: replays each file named on the command line through the fuzz target.
@main
struct Replay {
    static func main() throws {
        let paths = CommandLine.arguments.dropFirst()
        for path in paths {
            fuzzOne(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        print("replayed \(paths.count) input(s) without a finding")
    }
}
#endif
