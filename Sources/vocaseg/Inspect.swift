import ArgumentParser
import Foundation
import VocaSegApp

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors of a checkpoint (.pth or .safetensors) and identify the model it holds.",
        discussion: "The file is read with a restricted unpickler: nothing in it is executed. Exit code 4 for a checkpoint that cannot be read safely."
    )

    @Argument(help: "A PyTorch .pth (torch.save zip format) or .safetensors file.")
    var checkpoint: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let summary = try InspectJob.summary(path: checkpoint)
        print(json ? try InspectJob.json(summary) : InspectJob.table(summary))
    }
}
