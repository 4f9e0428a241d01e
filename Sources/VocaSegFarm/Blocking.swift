import Dispatch
import Foundation

/// Runs an async operation to its end from synchronous code: the watcher's and workers' loops are threads that
/// block on processes and files, as `WatchService`'s are, and talk to postgres-nio (async) through this.
///
/// Never call it from a Swift concurrency task: it blocks the calling thread until the operation, which runs on
/// the cooperative pool, is done.
func blocking<T>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await operation()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// Written by the task before the semaphore is signalled, read after the wait: the semaphore orders the two.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
