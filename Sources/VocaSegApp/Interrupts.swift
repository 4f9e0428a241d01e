import Dispatch
import Foundation
import VocaSegCore

/// SIGINT/SIGTERM handling: the first signal asks the running job to stop after the frame in flight (outputs are
/// finalised and valid); a second one exits at once with 130, leaving only temporary files that the next run's
/// atomic renames never expose.
public final class InterruptHandler: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var stopActions: [() -> Void] = []
    private var signalled = false

    public static let shared = InterruptHandler()

    public var wasInterrupted: Bool { lock.lock(); defer { lock.unlock() }; return signalled }

    /// Installs the handlers (idempotent).
    public func install() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.fire() }
            source.resume()
            sources.append(source)
        }
    }

    /// Registers what to do on the first signal; returns a token to remove it.
    public func onStop(_ action: @escaping () -> Void) {
        lock.lock()
        let already = signalled
        stopActions.append(action)
        lock.unlock()
        if already { action() }
    }

    public func clearActions() { lock.lock(); stopActions.removeAll(); lock.unlock() }

    private func fire() {
        lock.lock()
        if signalled {
            lock.unlock()
            StandardError.write("vocaseg: interrupted again, exiting now\n")
            exit(130)
        }
        signalled = true
        let actions = stopActions
        lock.unlock()
        StandardError.write("\nvocaseg: stopping after the frame in flight (press Ctrl-C again to quit now)\n")
        for a in actions { a() }
    }
}
