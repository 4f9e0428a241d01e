import Foundation
import VocaSegCore

/// Progress on stderr: a live bar on a terminal, a plain line every few seconds otherwise (logs, CI, pipes).
final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let total: Int?
    private let live: Bool
    private let enabled: Bool
    private let start = Date()
    private var lastPrint = Date.distantPast
    private let lock = NSLock()

    init(label: String, totalFrames: Int?, mode: SegmentOptions.ProgressMode, quiet: Bool) {
        self.label = label
        total = totalFrames
        let tty = isatty(STDERR_FILENO) == 1
        switch mode {
        case .never: enabled = false
        case .always: enabled = true
        case .auto: enabled = !quiet
        }
        live = tty && enabled
    }

    func update(frames: Int) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        let interval = live ? 0.2 : 5.0
        guard now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        emit(frames: frames, final: false)
    }

    func finish(frames: Int) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        emit(frames: frames, final: true)
    }

    private func emit(frames: Int, final: Bool) {
        let elapsed = Date().timeIntervalSince(start)
        let fps = elapsed > 0 ? Double(frames) / elapsed : 0
        var line: String
        if let total, total > 0 {
            let fraction = min(1, Double(frames) / Double(total))
            let eta = fps > 0 ? Double(max(total - frames, 0)) / fps : 0
            if live {
                let width = 24
                let filled = Int(fraction * Double(width))
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
                line = "\(label) \(bar) \(frames)/\(total) frames  \(format(fps)) fps  ETA \(clock(eta))"
            } else {
                line = "\(label): \(frames)/\(total) frames (\(Int(fraction * 100))%), \(format(fps)) fps, ETA \(clock(eta))"
            }
        } else {
            line = "\(label): \(frames) frames, \(format(fps)) fps, \(clock(elapsed)) elapsed"
        }
        let text = live ? "\r\u{1B}[2K" + line + (final ? "\n" : "") : line + "\n"
        StandardError.write(text)
    }

    private func format(_ x: Double) -> String { String(format: "%.1f", x) }
    private func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return String(format: "%d:%02d", t / 60, t % 60)
    }
}
