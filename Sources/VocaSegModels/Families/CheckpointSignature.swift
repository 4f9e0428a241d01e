import VocaSegCheckpoint

/// A key whose presence, and first dimension, tells a variant apart: the generic key and shape questions a family
/// asks of a checkpoint (see ../shared/specs/*-statedict-*.txt for the key lists these come from).
public struct CheckpointSignature: Sendable {
    public var keys: [String]
    /// Required first dimension of the key's shape (nil: any).
    public var firstDimension: Int?

    public init(keys: [String], firstDimension: Int? = nil) {
        self.keys = keys
        self.firstDimension = firstDimension
    }

    /// The matching key and its shape, as evidence, or nil.
    public func match(_ checkpoint: Checkpoint) -> String? {
        for key in keys {
            guard let tensor = checkpoint[key] else { continue }
            if let firstDimension, tensor.shape.first != firstDimension { continue }
            return "\(key) \(tensor.shape)"
        }
        return nil
    }
}
