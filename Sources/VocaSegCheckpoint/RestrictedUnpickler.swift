import VocaSegCore

/// A pickle virtual machine for the opcodes of protocols 0–5 that can occur in a torch checkpoint, with no ability
/// to call Python. Globals go through `AllowedGlobal`; calls of the allowed torch rebuild functions are interpreted
/// here (they only describe tensors); anything else is refused with an error that names it.
///
/// Hostile pickles are bounded: every read is bounds-checked, the stack, memo indices and container nesting are
/// capped, and `tearDown()` frees containers without recursing, so no input can exhaust memory or the call stack.
final class RestrictedUnpickler {
    /// Caps that no real checkpoint comes near; tests lower them.
    struct Limits {
        var maxStackDepth = 1 << 21
        /// A state dict memoises about a dozen objects per tensor; four million is far beyond any real checkpoint.
        var maxMemoIndex = 1 << 22
        var maxNesting = 256
        /// Items in all containers together. One opcode byte can add a list item, so without this budget a 1 GB
        /// pickle of APPENDs could ask for tens of gigabytes.
        var maxContainerItems = 1 << 24
    }

    private let limits: Limits

    private let data: UnsafeRawBufferPointer
    private let path: String
    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Every list and dict built, so that `tearDown` can empty them one by one.
    private var containers: [AnyObject] = []
    private var containerItems = 0

    init(data: UnsafeRawBufferPointer, path: String, limits: Limits = Limits()) {
        self.data = data
        self.path = path
        self.limits = limits
    }

    private func fail(_ why: String) -> VocaSegError {
        checkpointError("refused pickle (data.pkl, byte \(position)): \(why)", path: path)
    }

    /// Empties every container iteratively. Without it, releasing a deeply nested chain of lists would recurse
    /// once per level in ARC's deinit and could overflow the stack.
    func tearDown() {
        for container in containers {
            if let list = container as? PickleList { list.items = [] }
            if let dict = container as? PickleDict { dict.removeAll() }
        }
        containers = []
        stack = []
        memo = [:]
    }

    // MARK: Reading

    private func byte() throws -> UInt8 {
        guard position < data.count else { throw fail("unexpected end of pickle (truncated?)") }
        defer { position += 1 }
        return data[position]
    }

    private func bytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= data.count - position else {
            throw fail("a \(count)-byte field runs past the end of the \(data.count)-byte pickle")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: data[position..<(position + count)])
    }

    private func littleEndian<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let raw = try bytes(MemoryLayout<T>.size)
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    private func length<T: FixedWidthInteger>(_ type: T.Type) throws -> Int {
        let value = try littleEndian(type)
        guard value >= 0, UInt64(value) <= UInt64(data.count - position) else {
            throw fail("a \(value)-byte field runs past the end of the \(data.count)-byte pickle")
        }
        return Int(value)
    }

    private func lineBytes() throws -> UnsafeRawBufferPointer {
        let start = position
        while position < data.count, data[position] != UInt8(ascii: "\n") { position += 1 }
        guard position < data.count else { throw fail("unterminated text field") }
        defer { position += 1 }
        return UnsafeRawBufferPointer(rebasing: data[start..<position])
    }

    private func line() throws -> String {
        String(decoding: try lineBytes(), as: UTF8.self)
    }

    /// Protocol 0's UNICODE argument is raw-unicode-escape: Latin-1 bytes plus \uXXXX / \UXXXXXXXX escapes.
    private func rawUnicodeEscapeLine() throws -> String {
        var latin1 = String.UnicodeScalarView()
        for byte in try lineBytes() { latin1.append(Unicode.Scalar(byte)) }
        return decodeRawUnicodeEscape(String(latin1))
    }

    private func utf8(_ count: Int) throws -> String {
        String(decoding: try bytes(count), as: UTF8.self)
    }

    // MARK: Stack

    private var markBase: Int { marks.last ?? 0 }

    private func push(_ value: PickleValue) throws {
        guard stack.count < limits.maxStackDepth else { throw fail("stack deeper than \(limits.maxStackDepth)") }
        stack.append(value)
    }

    private func pop() throws -> PickleValue {
        guard stack.count > markBase else { throw fail("stack underflow") }
        return stack.removeLast()
    }

    private func top() throws -> PickleValue {
        guard stack.count > markBase, let value = stack.last else { throw fail("stack underflow") }
        return value
    }

    private func popMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("no MARK on the stack") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func checkedNesting(_ nesting: Int) throws {
        guard nesting <= limits.maxNesting else {
            throw fail("containers nested deeper than \(limits.maxNesting) levels")
        }
    }

    private func spend(_ items: Int) throws {
        containerItems += items
        guard containerItems <= limits.maxContainerItems else {
            throw fail("pickle builds more than \(limits.maxContainerItems) container items")
        }
    }

    private func makeTuple(_ items: [PickleValue]) throws -> PickleValue {
        try spend(items.count)
        let tuple = PickleTuple(items)
        try checkedNesting(tuple.nesting)
        return .tuple(tuple)
    }

    private func newList(_ items: [PickleValue] = []) throws -> PickleList {
        let list = PickleList()
        containers.append(list)
        try append(items, to: list)
        return list
    }

    private func newDict() -> PickleDict {
        let dict = PickleDict()
        containers.append(dict)
        return dict
    }

    private func append(_ items: [PickleValue], to list: PickleList) throws {
        try spend(items.count)
        for item in items {
            list.nesting = Swift.max(list.nesting, item.nesting + 1)
            try checkedNesting(list.nesting)
        }
        list.items.append(contentsOf: items)
    }

    private func setItems(_ items: [PickleValue], in dict: PickleDict) throws {
        guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        try spend(items.count / 2)
        var index = 0
        while index < items.count {
            let value = items[index + 1]
            dict.nesting = Swift.max(dict.nesting, value.nesting + 1)
            try checkedNesting(dict.nesting)
            dict.set(items[index], value)
            index += 2
        }
    }

    private func memoIndex(_ index: Int) throws -> Int {
        guard index >= 0, index <= limits.maxMemoIndex else { throw fail("memo index \(index) out of range") }
        return index
    }

    private func fetchMemo(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw fail("memo index \(index) was never stored") }
        return value
    }

    private func global(module: String, name: String) throws -> PickleValue {
        guard let value = AllowedGlobal.resolve(module: module, name: name) else {
            throw fail("refused global \(module).\(name): not a state-dict type, and calling it could run code "
                       + "under torch.load; nothing was executed")
        }
        return value
    }

    // MARK: Machine

    /// Runs the pickle to STOP and returns the top-level object.
    func load() throws -> PickleValue {
        while true {
            let opcode = try byte()
            switch opcode {
            case 0x80: // PROTO
                let version = try byte()
                guard version <= 5 else { throw fail("pickle protocol \(version) is newer than 5") }
            case 0x95: // FRAME: a length hint only
                _ = try bytes(8)
            case 0x2E: // STOP
                let result = try pop()
                return result
            case 0x28: // MARK
                guard marks.count < limits.maxStackDepth else { throw fail("too many MARKs") }
                marks.append(stack.count)
            case 0x30: // POP
                if stack.count > markBase { stack.removeLast() } else { _ = try popMark() }
            case 0x31: // POP_MARK
                _ = try popMark()
            case 0x32: // DUP
                try push(try top())

            // Scalars
            case 0x4E: try push(.none) // NONE
            case 0x88: try push(.bool(true)) // NEWTRUE
            case 0x89: try push(.bool(false)) // NEWFALSE
            case 0x4A: try push(.int(Int(try littleEndian(Int32.self)))) // BININT
            case 0x4B: try push(.int(Int(try byte()))) // BININT1
            case 0x4D: try push(.int(Int(try littleEndian(UInt16.self)))) // BININT2
            case 0x8A: try push(try longValue(try Int(byte()))) // LONG1
            case 0x8B: try push(try longValue(try length(Int32.self))) // LONG4
            case 0x47: // BINFLOAT: big-endian double
                let raw = try bytes(8)
                try push(.float(Double(bitPattern: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)))))
            case 0x49: // INT (text); "00"/"01" are protocol-0 booleans
                let text = try line()
                if text == "00" { try push(.bool(false)) } else if text == "01" { try push(.bool(true)) } else {
                    try push(Int(text).map(PickleValue.int) ?? .bigInt)
                }
            case 0x4C: // LONG (text)
                var text = try line()
                if text.hasSuffix("L") { text.removeLast() }
                try push(Int(text).map(PickleValue.int) ?? .bigInt)
            case 0x46: // FLOAT (text)
                guard let value = Double(try line()) else { throw fail("bad FLOAT") }
                try push(.float(value))

            // Strings and bytes
            case 0x58: try push(.string(try utf8(try length(UInt32.self)))) // BINUNICODE
            case 0x8C: try push(.string(try utf8(Int(try byte())))) // SHORT_BINUNICODE
            case 0x8D: try push(.string(try utf8(try length(UInt64.self)))) // BINUNICODE8
            case 0x56: try push(.string(try rawUnicodeEscapeLine())) // UNICODE (text)
            case 0x53: // STRING (text, quoted)
                var text = try line()
                if text.count >= 2, let first = text.first, first == "'" || first == "\"", text.last == first {
                    text = String(text.dropFirst().dropLast())
                }
                try push(.string(text))
            case 0x54, 0x42: // BINSTRING, BINBYTES
                let count = try length(UInt32.self)
                _ = try bytes(count)
                try push(.bytes(count: count))
            case 0x55, 0x43: // SHORT_BINSTRING, SHORT_BINBYTES
                let count = Int(try byte())
                _ = try bytes(count)
                try push(.bytes(count: count))
            case 0x8E, 0x96: // BINBYTES8, BYTEARRAY8
                let count = try length(UInt64.self)
                _ = try bytes(count)
                try push(.bytes(count: count))

            // Containers
            case 0x29: try push(try makeTuple([])) // EMPTY_TUPLE
            case 0x85: try push(try makeTuple([try pop()])) // TUPLE1
            case 0x86: // TUPLE2
                let second = try pop()
                try push(try makeTuple([try pop(), second]))
            case 0x87: // TUPLE3
                let third = try pop()
                let second = try pop()
                try push(try makeTuple([try pop(), second, third]))
            case 0x74: try push(try makeTuple(try popMark())) // TUPLE
            case 0x5D: try push(.list(try newList())) // EMPTY_LIST
            case 0x6C: try push(.list(try newList(try popMark()))) // LIST
            case 0x7D: try push(.dict(newDict())) // EMPTY_DICT
            case 0x64: // DICT
                let dict = newDict()
                try setItems(try popMark(), in: dict)
                try push(.dict(dict))
            case 0x8F: try push(.list(try newList())) // EMPTY_SET (kept as a list; only skipped entries hold sets)
            case 0x91: // FROZENSET
                _ = try popMark()
                try push(.opaque("frozenset"))
            case 0x61: // APPEND
                let item = try pop()
                guard case .list(let list) = try top() else { throw fail("APPEND to a \(try top().kindName)") }
                try append([item], to: list)
            case 0x65, 0x90: // APPENDS, ADDITEMS
                let items = try popMark()
                guard case .list(let list) = try top() else { throw fail("APPENDS to a \(try top().kindName)") }
                try append(items, to: list)
            case 0x73: // SETITEM
                let value = try pop()
                let key = try pop()
                guard case .dict(let dict) = try top() else { throw fail("SETITEM on a \(try top().kindName)") }
                try setItems([key, value], in: dict)
            case 0x75: // SETITEMS
                let items = try popMark()
                guard case .dict(let dict) = try top() else { throw fail("SETITEMS on a \(try top().kindName)") }
                try setItems(items, in: dict)

            // Memo
            case 0x71: memo[try memoIndex(Int(try byte()))] = try top() // BINPUT
            case 0x72: memo[try memoIndex(Int(try littleEndian(UInt32.self)))] = try top() // LONG_BINPUT
            case 0x94: memo[try memoIndex(memo.count)] = try top() // MEMOIZE
            case 0x70: // PUT (text)
                guard let index = Int(try line()) else { throw fail("bad PUT index") }
                memo[try memoIndex(index)] = try top()
            case 0x68: try push(try fetchMemo(Int(try byte()))) // BINGET
            case 0x6A: try push(try fetchMemo(Int(try littleEndian(UInt32.self)))) // LONG_BINGET
            case 0x67: // GET (text)
                guard let index = Int(try line()) else { throw fail("bad GET index") }
                try push(try fetchMemo(index))

            // Globals and calls
            case 0x63: // GLOBAL
                let module = try line()
                try push(try global(module: module, name: try line()))
            case 0x93: // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(try global(module: module, name: name))
            case 0x52: // REDUCE
                let arguments = try pop()
                let callable = try pop()
                guard case .tuple(let tuple) = arguments else { throw fail("REDUCE arguments are not a tuple") }
                try push(try call(callable, tuple.items))
            case 0x81: // NEWOBJ
                let arguments = try pop()
                let type = try pop()
                guard case .tuple(let tuple) = arguments else { throw fail("NEWOBJ arguments are not a tuple") }
                try push(try call(type, tuple.items))
            case 0x92: // NEWOBJ_EX
                _ = try pop() // keyword arguments
                let arguments = try pop()
                let type = try pop()
                guard case .tuple(let tuple) = arguments else { throw fail("NEWOBJ_EX arguments are not a tuple") }
                try push(try call(type, tuple.items))
            case 0x69: // INST
                let module = try line()
                let type = try global(module: module, name: try line())
                try push(try call(type, try popMark()))
            case 0x6F: // OBJ
                var items = try popMark()
                guard !items.isEmpty else { throw fail("OBJ without a class") }
                let type = items.removeFirst()
                try push(try call(type, items))
            case 0x62: // BUILD: sets attributes (an OrderedDict's _metadata); nothing we need, nothing to run
                _ = try pop()
                _ = try top()
            case 0x51: // BINPERSID
                try push(try persistentLoad(try pop()))
            case 0x50: // PERSID (text)
                throw fail("text persistent ids are not used by torch.save")
            case 0x82, 0x83, 0x84:
                throw fail("copyreg extension codes are not allowed")
            case 0x97:
                throw fail("out-of-band buffers are not allowed")
            case 0x98: // READONLY_BUFFER: a flag on the top value
                _ = try top()
            default:
                throw fail("unknown opcode 0x\(String(opcode, radix: 16, uppercase: true))")
            }
        }
    }

    /// LONG1 / LONG4: little-endian two's complement of `count` bytes.
    private func longValue(_ count: Int) throws -> PickleValue {
        let raw = try bytes(count)
        guard count <= 8 else { return .bigInt }
        guard count > 0 else { return .int(0) }
        var value: UInt64 = 0
        for (shift, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
        if count < 8, raw[count - 1] & 0x80 != 0 { value |= ~0 << (8 * UInt64(count)) } // sign-extend
        return .int(Int(Int64(bitPattern: value)))
    }

    private func decodeRawUnicodeEscape(_ text: String) -> String {
        guard text.contains("\\u") || text.contains("\\U") else { return text }
        var output = ""
        var scalars = text.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            if scalar == "\\", let kind = scalars.first, kind == "u" || kind == "U" {
                let digits = kind == "u" ? 4 : 8
                let hex = String(String.UnicodeScalarView(scalars.dropFirst().prefix(digits)))
                if hex.count == digits, let code = UInt32(hex, radix: 16), let decoded = Unicode.Scalar(code) {
                    output.unicodeScalars.append(decoded)
                    scalars = scalars.dropFirst(1 + digits)
                    continue
                }
            }
            output.unicodeScalars.append(scalar)
        }
        return output
    }

    // MARK: Torch semantics

    /// torch.save's persistent id: ('storage', <StorageClass>, key, location, numel). The data stay in the zip.
    private func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let tuple) = pid, tuple.items.count == 5,
              case .string("storage") = tuple.items[0] else {
            throw fail("unsupported persistent id (expected ('storage', type, key, location, numel))")
        }
        guard case .global(.storageClass(let dtype)) = tuple.items[1] else {
            throw fail("persistent id names \(tuple.items[1].kindName), not a torch storage class")
        }
        guard case .string(let key) = tuple.items[2] else { throw fail("storage key is not a string") }
        guard case .int(let count) = tuple.items[4], count >= 0 else {
            throw fail("storage '\(key)' has an invalid element count")
        }
        return .storage(PickledStorage(key: key, dtype: dtype, declaredElementCount: count))
    }

    /// The interpretation of REDUCE / NEWOBJ / INST / OBJ: only allowed globals, and only describing, never running.
    private func call(_ callable: PickleValue, _ arguments: [PickleValue]) throws -> PickleValue {
        guard case .global(let global) = callable else {
            throw fail("call of a \(callable.kindName), which is not an allowed global")
        }
        switch global {
        case .orderedDict:
            let dict = newDict()
            // OrderedDict([(key, value), …]) as protocols 0/1 write it.
            if case .list(let pairs)? = arguments.first {
                for pair in pairs.items {
                    guard case .tuple(let kv) = pair, kv.items.count == 2 else { throw fail("bad OrderedDict item") }
                    try setItems(kv.items, in: dict)
                }
            }
            return .dict(dict)
        case .rebuildTensorV2, .rebuildTensorV3:
            return .tensor(try rebuildTensor(arguments, named: global.description,
                                             dtypeIndex: global == .rebuildTensorV3 ? 6 : nil))
        case .rebuildParameter, .rebuildParameterWithState:
            guard let data = arguments.first, case .tensor = data else {
                throw fail("\(global) without a tensor argument")
            }
            return data
        case .torchSize:
            guard let shape = arguments.first, case .tuple = shape else { throw fail("torch.Size without a tuple") }
            return shape
        case .storageClass:
            throw fail("direct construction of a storage object is not supported")
        case .harmless(let name):
            return .opaque(name)
        }
    }

    /// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]);
    /// v3 adds a dtype after the hooks.
    private func rebuildTensor(_ arguments: [PickleValue], named function: String,
                               dtypeIndex: Int?) throws -> PickledTensor {
        guard arguments.count >= 4, case .storage(var storage) = arguments[0], case .int(let offset) = arguments[1]
        else { throw fail("\(function) called with unexpected arguments") }
        if let dtypeIndex {
            guard arguments.count > dtypeIndex, case .dtype(let dtype) = arguments[dtypeIndex] else {
                throw fail("\(function) without a dtype")
            }
            guard dtype == storage.dtype else {
                throw fail("\(function): tensor dtype \(dtype.rawValue) differs from storage dtype "
                           + "\(storage.dtype.rawValue)")
            }
            storage = PickledStorage(key: storage.key, dtype: dtype, declaredElementCount: storage.declaredElementCount)
        }
        return PickledTensor(storage: storage, storageOffset: offset,
                             shape: try integers(arguments[2], what: "size"),
                             strides: try integers(arguments[3], what: "stride"))
    }

    private func integers(_ value: PickleValue, what: String) throws -> [Int] {
        let items: [PickleValue]
        switch value {
        case .tuple(let tuple): items = tuple.items
        case .list(let list): items = list.items
        default: throw fail("tensor \(what) is a \(value.kindName), not a tuple")
        }
        return try items.map { item in
            guard case .int(let number) = item else {
                throw fail("tensor \(what) contains a \(item.kindName) (too large for Int?)")
            }
            return number
        }
    }
}
