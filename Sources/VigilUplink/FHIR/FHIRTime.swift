import VigilCore

/// FHIR `instant` / `dateTime` text for Unix milliseconds.
@inline(__always)
func fhirInstant(_ milliseconds: Int64) -> String { ISOTime.milliseconds(milliseconds) }
