import Dispatch
import VocaSegCore

/// The bytes behind one or more tensors: a validated byte range of a mapped checkpoint file.
/// Tensors that share a torch storage share one of these.
final class TensorStorage: Sendable {
    let file: MappedFile
    /// Lies inside the file (checked when the storage is created).
    let byteRange: Range<Int>
    let dtype: TensorDType

    init(file: MappedFile, byteRange: Range<Int>, dtype: TensorDType) {
        self.file = file
        self.byteRange = byteRange
        self.dtype = dtype
    }

    var elementCount: Int { byteRange.count / dtype.byteSize }
}

/// One tensor of a checkpoint, described but not read: its data stay in the mapped file until a conversion asks.
///
/// Shape, strides and storage offset are in elements, as torch stores them; the constructor proved that every
/// element the strides can reach lies inside the storage, so the conversions below never read out of bounds.
public struct TensorRecord: Sendable {
    public let name: String
    public let dtype: TensorDType
    public let shape: [Int]
    public let strides: [Int]
    public let storageOffset: Int
    /// Product of `shape`; 1 for a scalar (shape `[]`).
    public let elementCount: Int
    let storage: TensorStorage

    /// Bytes of a contiguous copy in the stored dtype.
    public var byteCount: Int { elementCount * dtype.byteSize }
    /// The checkpoint file this tensor comes from.
    public var sourcePath: String { storage.file.path }

    /// How many more elements than its storage holds an expanded (zero- or overlapping-stride) view may have.
    static let maxExpansion = 1 << 26

    /// Row-major strides for `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = step
            step &*= Swift.max(shape[axis], 1)
        }
        return strides
    }

    /// True when the elements are stored densely in row-major order (size-1 axes may have any stride).
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected &*= shape[axis]
        }
        return true
    }

    /// Validates the geometry against the storage. Every multiplication is overflow-checked, because a hostile file
    /// can declare any shape.
    init(name: String, dtype: TensorDType, shape: [Int], strides: [Int], storageOffset: Int,
         storage: TensorStorage) throws {
        let path = storage.file.path
        func fail(_ why: String) -> VocaSegError { checkpointError("tensor '\(name)': \(why)", path: path) }
        guard shape.count == strides.count else {
            throw fail("shape \(shape) and strides \(strides) have different ranks")
        }
        guard shape.count <= 64 else { throw fail("rank \(shape.count) is not plausible") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("negative size in shape \(shape)") }
        guard strides.allSatisfy({ $0 >= 0 }) else { throw fail("negative stride in \(strides)") }
        guard storageOffset >= 0 else { throw fail("negative storage offset \(storageOffset)") }
        guard dtype == storage.dtype else { throw fail("dtype \(dtype) differs from its storage's \(storage.dtype)") }
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw fail("shape \(shape) has more elements than fit in an Int") }
            count = product
        }
        guard !count.multipliedReportingOverflow(by: dtype.byteSize).overflow else {
            throw fail("shape \(shape) is larger than addressable memory")
        }
        // Zero or overlapping strides let a few stored elements stand for many (an expanded view). Allow that, but
        // not so far that a tiny file could make a conversion allocate gigabytes.
        guard count <= storage.elementCount + Self.maxExpansion else {
            throw fail("shape \(shape) with strides \(strides) expands \(storage.elementCount) stored elements to "
                       + "\(count); refusing more than \(Self.maxExpansion) beyond the storage")
        }
        if count > 0 {
            // The furthest element the strides reach must still be inside the storage.
            var last = storageOffset
            for (size, step) in zip(shape, strides) {
                let (reach, overflowA) = (size - 1).multipliedReportingOverflow(by: step)
                let (sum, overflowB) = last.addingReportingOverflow(reach)
                guard !overflowA, !overflowB else { throw fail("strides \(strides) overflow") }
                last = sum
            }
            guard last < storage.elementCount else {
                throw fail("needs storage element \(last) but its storage holds \(storage.elementCount) "
                            + "(shape \(shape), strides \(strides), offset \(storageOffset))")
            }
        }
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.strides = strides
        self.storageOffset = storageOffset
        self.elementCount = count
        self.storage = storage
    }

    /// The byte range of the file that the elements span (for page release after a copy).
    private var spannedBytes: Range<Int> {
        guard elementCount > 0 else { return storage.byteRange.lowerBound..<storage.byteRange.lowerBound }
        var last = storageOffset
        for (size, step) in zip(shape, strides) { last += (size - 1) * step }
        let start = storage.byteRange.lowerBound + storageOffset * dtype.byteSize
        return start..<(storage.byteRange.lowerBound + (last + 1) * dtype.byteSize)
    }
}

// MARK: - Conversions

extension TensorRecord {
    /// A contiguous row-major copy as Float. Half and bfloat16 widen exactly; float64 and 64-bit integers round to
    /// the nearest Float; bool gives 0 or 1.
    public func float32() -> [Float] {
        [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            float32(into: buffer)
            initialized = elementCount
        }
    }

    /// Writes the row-major elements as Float into `destination`, which must hold at least `elementCount` values.
    /// Lets the tensor engine convert straight into its own buffers without an intermediate array.
    public func float32(into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= elementCount, "destination too small for tensor '\(name)'")
        guard elementCount > 0, let out = destination.baseAddress else { return }
        switch dtype {
        case .float32 where isContiguous:
            // Same bytes, same layout: a parallel memcpy out of the mapping.
            guard let fileBase = storage.file.bytes.baseAddress else { return }
            let source = fileBase + storage.byteRange.lowerBound + storageOffset * 4
            let target = UnsafeMutableRawPointer(out)
            inParallel(byteCount, grain: 1 << 20) { range in
                (target + range.lowerBound).copyMemory(from: source + range.lowerBound, byteCount: range.count)
            }
        case .float32:
            copyRuns(into: out) { p in Float(bitPattern: p.loadUnaligned(as: UInt32.self)) }
        case .float16:
            copyRuns(into: out) { p in floatFromHalfBits(p.loadUnaligned(as: UInt16.self)) }
        case .bfloat16:
            copyRuns(into: out) { p in Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self)) << 16) }
        case .float64:
            copyRuns(into: out) { p in Float(Double(bitPattern: p.loadUnaligned(as: UInt64.self))) }
        case .int64:
            copyRuns(into: out) { p in Float(Int64(littleEndian: p.loadUnaligned(as: Int64.self))) }
        case .int32:
            copyRuns(into: out) { p in Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self))) }
        case .int16:
            copyRuns(into: out) { p in Float(Int16(littleEndian: p.loadUnaligned(as: Int16.self))) }
        case .int8:
            copyRuns(into: out) { p in Float(p.load(as: Int8.self)) }
        case .uint8:
            copyRuns(into: out) { p in Float(p.load(as: UInt8.self)) }
        case .bool:
            copyRuns(into: out) { p in p.load(as: UInt8.self) != 0 ? 1 : 0 }
        }
        storage.file.releasePages(spannedBytes)
    }

    /// A contiguous row-major copy as Int64, for integer and bool tensors (index buffers, counters).
    /// Asking a floating-point tensor for integers is a model error rather than a silent truncation.
    public func int64() throws -> [Int64] {
        let out = [Int64](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            initialized = 0
            guard elementCount > 0, let base = buffer.baseAddress else { return }
            switch dtype {
            case .int64: copyRuns(into: base) { p in Int64(littleEndian: p.loadUnaligned(as: Int64.self)) }
            case .int32: copyRuns(into: base) { p in Int64(Int32(littleEndian: p.loadUnaligned(as: Int32.self))) }
            case .int16: copyRuns(into: base) { p in Int64(Int16(littleEndian: p.loadUnaligned(as: Int16.self))) }
            case .int8: copyRuns(into: base) { p in Int64(p.load(as: Int8.self)) }
            case .uint8: copyRuns(into: base) { p in Int64(p.load(as: UInt8.self)) }
            case .bool: copyRuns(into: base) { p in p.load(as: UInt8.self) != 0 ? 1 : 0 }
            case .float32, .float16, .bfloat16, .float64: return
            }
            initialized = elementCount
        }
        guard out.count == elementCount else {
            throw checkpointError("tensor '\(name)' is \(dtype.rawValue), not an integer tensor", path: sourcePath)
        }
        return out
    }

    /// A contiguous row-major copy of the raw little-endian elements in the stored dtype (for writing safetensors,
    /// or for engines that keep half precision).
    public func contiguousBytes() -> [UInt8] {
        let size = dtype.byteSize
        return [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            if let base = buffer.baseAddress, elementCount > 0 {
                forEachRun { source, sourceStep, count, destinationIndex in
                    let out = base + destinationIndex * size
                    if sourceStep == 1 {
                        out.initialize(from: source.assumingMemoryBound(to: UInt8.self), count: count * size)
                    } else {
                        for i in 0..<count {
                            (out + i * size).initialize(
                                from: (source + i * sourceStep * size).assumingMemoryBound(to: UInt8.self),
                                count: size)
                        }
                    }
                }
            }
            initialized = byteCount
        }
    }

    /// Calls `convert` once per element and stores the results in row-major order. Large contiguous tensors are split
    /// over the cores; strided views are copied in tiles so that neither reads nor writes walk memory with a huge
    /// stride.
    @inline(__always)
    private func copyRuns<Element>(into out: UnsafeMutablePointer<Element>,
                                   _ convert: (UnsafeRawPointer) -> Element) {
        guard let fileBase = storage.file.bytes.baseAddress, elementCount > 0 else { return }
        let size = dtype.byteSize
        let base = fileBase + storage.byteRange.lowerBound + storageOffset * size
        if isContiguous {
            inParallel(elementCount, grain: 1 << 18) { range in
                for i in range { (out + i).initialize(to: convert(base + i * size)) }
            }
            return
        }
        let rank = shape.count
        let rows = rank >= 2 ? shape[rank - 2] : 1
        let columns = shape[rank - 1]
        let rowStride = rank >= 2 ? strides[rank - 2] : 0
        let columnStride = strides[rank - 1]
        let outerShape = Array(shape.dropLast(Swift.min(rank, 2)))
        let outerStrides = Array(strides.dropLast(Swift.min(rank, 2)))
        let tile = 64
        let rowBlocks = (rows + tile - 1) / tile
        let planes = elementCount / (rows * columns)
        // Strided views are rare in real checkpoints and this loop is memory-bound: one thread is enough.
        for block in 0..<(planes * rowBlocks) {
            // Source offset of this plane: decompose the plane index over the outer axes.
            var plane = block / rowBlocks
            var planeOffset = 0
            for axis in stride(from: outerShape.count - 1, through: 0, by: -1) {
                planeOffset += (plane % outerShape[axis]) * outerStrides[axis]
                plane /= outerShape[axis]
            }
            let firstRow = (block % rowBlocks) * tile
            let lastRow = Swift.min(firstRow + tile, rows)
            let destination = out + (block / rowBlocks) * rows * columns
            let source = base + planeOffset * size
            if columnStride == 1 {
                for row in firstRow..<lastRow {
                    let rowSource = source + row * rowStride * size
                    let rowDestination = destination + row * columns
                    for column in 0..<columns {
                        (rowDestination + column).initialize(to: convert(rowSource + column * size))
                    }
                }
            } else {
                // Rows innermost: for a transposed matrix the reads are then sequential, and the writes touch
                // only `tile` cache lines at a time.
                // Narrow column tiles: columns a power-of-two stride apart share one L1 set, and an 8-way
                // cache keeps only 8 of them while the rows below reuse the same lines.
                let columnTile = 8
                var firstColumn = 0
                while firstColumn < columns {
                    let lastColumn = Swift.min(firstColumn + columnTile, columns)
                    for row in firstRow..<lastRow {
                        let rowSource = source + row * rowStride * size
                        let rowDestination = destination + row * columns
                        for column in firstColumn..<lastColumn {
                            (rowDestination + column).initialize(to: convert(rowSource + column * columnStride * size))
                        }
                    }
                    firstColumn = lastColumn
                }
            }
        }
    }

    /// Contiguous runs of raw elements in row-major order: `body(start, step, count, destinationIndex)`.
    private func forEachRun(_ body: (UnsafeRawPointer, Int, Int, Int) -> Void) {
        guard let fileBase = storage.file.bytes.baseAddress, elementCount > 0 else { return }
        let size = dtype.byteSize
        let base = fileBase + storage.byteRange.lowerBound + storageOffset * size
        if isContiguous || shape.isEmpty {
            body(base, 1, elementCount, 0)
            return
        }
        let rank = shape.count
        let runLength = shape[rank - 1]
        let runStep = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)
        var destination = 0
        var sourceElement = 0
        while destination < elementCount {
            body(base + sourceElement * size, runStep, runLength, destination)
            destination += runLength
            // Odometer increment over the outer axes.
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                sourceElement += strides[axis]
                if index[axis] < shape[axis] { break }
                sourceElement -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Runs `body` over `0..<count` in chunks of about `grain` items, on all cores when there is enough work.
/// Checkpoint conversion is bound by page faults and memory bandwidth, which both scale with threads.
@inline(__always)
func inParallel(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let chunks = (count + grain - 1) / grain
    guard chunks > 1 else {
        body(0..<count)
        return
    }
    // Each chunk writes a disjoint part of the destination and only reads the immutable mapping, so sharing the
    // (non-Sendable) closure between the worker threads is safe.
    withoutActuallyEscaping(body) { body in
        let shared = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * grain
            shared.value(start..<Swift.min(start + grain, count))
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// IEEE half → single, exact for every input (normals, subnormals, zeros, infinities, NaN payloads).
@inline(__always)
func floatFromHalfBits(_ half: UInt16) -> Float {
    let sign = UInt32(half & 0x8000) << 16
    let exponent = UInt32(half >> 10) & 0x1F
    let mantissa = UInt32(half & 0x3FF)
    switch exponent {
    case 0:
        // Zero or subnormal: mantissa × 2⁻²⁴, exact in Float.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    case 0x1F:
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    default:
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}
