public enum VigilVersion {
    /// Bumped with each release; also reported in the gateway's status and FHIR Device resource.
    public static let current = "0.3.0"
}
