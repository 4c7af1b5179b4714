// The protocol's API is made of the core model's types (channels, device ids): importing the
// protocol brings them, as swift-nio's modules bring NIOCore.
@_exported import VigilCore
