import VigilFuzzSupport

/// The fuzz targets whose modules build fast (scripts/fuzz runs them under libFuzzer, in the
/// suite too): every parser of outside input outside the agent module itself.
@main
struct Fuzz {
    static func main() {
        FuzzMain.run([frames, alertAcknowledgement, patientSettings, auditLog, transactionResponse, tokenResponse])
    }
}
