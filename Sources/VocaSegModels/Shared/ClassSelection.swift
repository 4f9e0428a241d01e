import VocaSegCore

/// The vocabulary indices a model scored for one frame when it looks at a subset (ERR-Seg's CRM, shared by its
/// sliding windows). Written to the JSON lines as `"selected"`, by class name, and `"selected_ids"`, by index (a
/// vocabulary file may name two classes alike).
public struct ClassSelection: ModelPayload, Equatable {
    public var indices: [Int]

    public init(_ indices: [Int]) { self.indices = indices }

    public func jsonFields(classNames: [String]) -> [String: any Sendable] {
        ["selected": indices.map { classNames[$0] }, "selected_ids": indices]
    }
}

extension SegmentationResult {
    /// The classes the model selected for this frame, when its payload says so (nil: it scored them all).
    public var selectedClasses: [Int]? {
        get { (payload as? ClassSelection)?.indices }
        set { payload = newValue.map(ClassSelection.init) }
    }
}
