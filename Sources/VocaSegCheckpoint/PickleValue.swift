/// What the restricted unpickler can build. There are no arbitrary Python objects: a call of an allowed
/// non-tensor global (numpy scalars, sets, …) becomes an `opaque` placeholder holding only the global's name.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits; state dicts never need its value.
    case bigInt
    case float(Double)
    case string(String)
    /// Byte strings keep only their length: nothing in a state dict needs their contents.
    case bytes(count: Int)
    case tuple(PickleTuple)
    case list(PickleList)
    case dict(PickleDict)
    /// A global that passed the allowlist, waiting to be called by REDUCE / NEWOBJ.
    case global(AllowedGlobal)
    /// A torch dtype object (`torch.float32`), an argument of `_rebuild_tensor_v3`.
    case dtype(TensorDType)
    /// A persistent id resolved to a storage reference (data not touched).
    case storage(PickledStorage)
    case tensor(PickledTensor)
    /// The result of calling a harmless global; only its name survives.
    case opaque(String)

    /// How deeply containers nest below this value (0 for scalars). Tracked so that hostile nesting is refused
    /// while building, long before anything would recurse over it.
    var nesting: Int {
        switch self {
        case .tuple(let tuple): return tuple.nesting
        case .list(let list): return list.nesting
        case .dict(let dict): return dict.nesting
        default: return 0
        }
    }

    /// A short description for error messages and skipped-entry lists.
    var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let global): return "global \(global)"
        case .dtype: return "torch.dtype"
        case .storage: return "storage"
        case .tensor: return "tensor"
        case .opaque(let name): return name
        }
    }
}

/// Tuples are immutable, so their nesting is exact.
final class PickleTuple {
    let items: [PickleValue]
    let nesting: Int
    init(_ items: [PickleValue]) {
        self.items = items
        self.nesting = 1 + (items.lazy.map(\.nesting).max() ?? 0)
    }
}

/// Lists and dicts are mutated after creation (APPENDS / SETITEMS on a memoised object), hence classes.
final class PickleList {
    var items: [PickleValue] = []
    var nesting = 1
}

final class PickleDict {
    private(set) var keys: [PickleValue] = []
    private(set) var values: [PickleValue] = []
    private var indexOfStringKey: [String: Int] = [:]
    var nesting = 1

    var count: Int { keys.count }

    /// Python dict semantics for string keys (a repeated key replaces the value in place); other keys append.
    func set(_ key: PickleValue, _ value: PickleValue) {
        if case .string(let name) = key {
            if let existing = indexOfStringKey[name] {
                values[existing] = value
                return
            }
            indexOfStringKey[name] = keys.count
        }
        keys.append(key)
        values.append(value)
    }

    subscript(name: String) -> PickleValue? {
        indexOfStringKey[name].map { values[$0] }
    }

    /// Drops the contents without recursion through them (see `RestrictedUnpickler.tearDown`).
    func removeAll() {
        keys = []
        values = []
        indexOfStringKey = [:]
    }
}

/// A torch storage named by a persistent id: which zip entry, which dtype, how many elements it claims.
struct PickledStorage {
    let key: String
    let dtype: TensorDType
    let declaredElementCount: Int
}

struct PickledTensor {
    let storage: PickledStorage
    let storageOffset: Int
    let shape: [Int]
    let strides: [Int]
}
