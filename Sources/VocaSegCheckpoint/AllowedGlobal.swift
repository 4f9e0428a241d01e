/// The allowlist of Python globals a checkpoint pickle may name.
///
/// Under `torch.load(weights_only=False)` a GLOBAL followed by REDUCE calls any importable function — that is how
/// pickles run code. Here a global is only a name: the allowed ones map to the handful of constructors a state dict
/// needs, a few harmless value types become opaque placeholders, and everything else is refused on sight, even in
/// entries we would skip. Nothing is ever executed.
enum AllowedGlobal: Equatable, CustomStringConvertible {
    case orderedDict
    case rebuildTensorV2
    case rebuildTensorV3
    case rebuildParameter
    case rebuildParameterWithState
    case storageClass(TensorDType)
    case torchSize
    /// A constructor of a plain value (set, slice, numpy scalar …) that can appear in optimizer or metadata
    /// entries. Calling it yields `.opaque(name)`.
    case harmless(String)

    var description: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: return "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .storageClass(let dtype): return "torch storage class for \(dtype.rawValue)"
        case .torchSize: return "torch.Size"
        case .harmless(let name): return name
        }
    }

    private static let harmlessNames: Set<String> = [
        "builtins.set", "builtins.frozenset", "builtins.slice", "builtins.complex", "builtins.bytearray",
        "builtins.bytes", "builtins.int", "builtins.float", "builtins.str", "builtins.range",
        "_codecs.encode",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.ndarray", "numpy.dtype",
        "torch.device",
    ]

    /// Either the value the GLOBAL opcode pushes, or `nil` for a refused global.
    static func resolve(module: String, name: String) -> PickleValue? {
        // Python 2 pickles spell builtins `__builtin__`.
        let module = module == "__builtin__" ? "builtins" : module
        switch (module, name) {
        case ("collections", "OrderedDict"): return .global(.orderedDict)
        case ("torch._utils", "_rebuild_tensor_v2"): return .global(.rebuildTensorV2)
        case ("torch._utils", "_rebuild_tensor_v3"): return .global(.rebuildTensorV3)
        case ("torch._utils", "_rebuild_parameter"): return .global(.rebuildParameter)
        case ("torch._utils", "_rebuild_parameter_with_state"): return .global(.rebuildParameterWithState)
        case ("torch", "Size"): return .global(.torchSize)
        case ("torch", _):
            if let dtype = TensorDType(torchStorageClass: name) { return .global(.storageClass(dtype)) }
            if let dtype = TensorDType(torchDTypeName: name) { return .dtype(dtype) }
        default:
            break
        }
        let qualified = "\(module).\(name)"
        return harmlessNames.contains(qualified) ? .global(.harmless(qualified)) : nil
    }
}
