import VocaSegCore

/// Every checkpoint problem is a model error (exit 4) that names the file: one constructor keeps that uniform.
@inline(__always)
func checkpointError(_ message: String, path: String) -> VocaSegError {
    VocaSegError(.model, message, path: path)
}
