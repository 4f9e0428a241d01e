import Dispatch
import Foundation
import VocaSegCore

/// Pixel counts per class of one label map, counted in parallel; also the check that every label names a class.
enum LabelStatistics {
    /// `counts[c]` = number of label-map pixels of class `c`. Throws if a label is neither a class index below
    /// `classCount` nor `LabelMap.unlabeled` (a model bug: it must not crash the renderer).
    static func classCounts(_ labels: LabelMap, classCount: Int) throws -> [Int] {
        let total = labels.labels.count
        let chunks = max(1, min(ProcessInfo.processInfo.activeProcessorCount * 2, total / 65_536))
        // One row of `classCount + 1` counters per chunk; the extra slot remembers an out-of-range label + 1.
        let stride = classCount + 1
        var perChunk = [Int](repeating: 0, count: chunks * stride)
        perChunk.withUnsafeMutableBufferPointer { counters in
            labels.labels.withUnsafeBufferPointer { values in
                let shared = UnsafeSendable((counters.baseAddress!, values.baseAddress))
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    let (counts, source) = shared.value
                    guard let source else { return }
                    let mine = counts + chunk * stride
                    // Count runs, not pixels: label maps are long runs of one class, and incrementing the
                    // same counter pixel after pixel would serialise on that counter.
                    let range = RowChunks.range(chunk: chunk, of: chunks, rows: total)
                    var runStart = range.lowerBound
                    while runStart < range.upperBound {
                        let label = source[runStart]
                        let runEnd = LabelRuns.end(of: label, in: source, from: runStart + 1, to: range.upperBound)
                        if Int(label) < classCount {
                            mine[Int(label)] += runEnd - runStart
                        } else if label != LabelMap.unlabeled {
                            mine[classCount] = Int(label) + 1
                        }
                        runStart = runEnd
                    }
                }
            }
        }
        var counts = [Int](repeating: 0, count: classCount)
        for chunk in 0..<chunks {
            let base = chunk * stride
            if perChunk[base + classCount] != 0 {
                throw VocaSegError(.internal, "label map names class \(perChunk[base + classCount] - 1) but the "
                    + "vocabulary has only \(classCount) classes")
            }
            for c in 0..<classCount { counts[c] += perChunk[base + c] }
        }
        return counts
    }
}
