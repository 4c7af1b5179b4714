// The store keeps the core model's entries (readings, alerts, gaps): importing the store
// brings them, as swift-nio's modules bring NIOCore.
@_exported import VigilCore
