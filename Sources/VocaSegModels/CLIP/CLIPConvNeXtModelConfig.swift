import Foundation
import VocaSegCore

/// What a model built on an open_clip ConvNeXt CLIP (ERR-Seg, SED) says about its two towers, and how its config
/// file is read: the sizes live in each family's config (their JSON names follow that family's reference), the
/// towers and the loading rules are the same.
public protocol CLIPConvNeXtModelConfig: Decodable {
    /// The family's name in messages ("ERR-Seg", "SED").
    static var familyName: String { get }
    var trunkDims: [Int] { get }
    var trunkDepths: [Int] { get }
    var embedDim: Int { get }
    var visualHead: CLIPConvNeXtConfig.Head { get }
    var trunkLNEps: Float { get }
    var textWidth: Int { get }
    var textHeads: Int { get }
    var textLayers: Int { get }
    var contextLength: Int { get }
    var vocabSize: Int { get }
    var textLNEps: Float { get }
    func validate() throws
}

extension CLIPConvNeXtModelConfig {
    /// The CLIP ConvNeXt visual tower these sizes describe.
    public var visualTower: CLIPConvNeXtConfig {
        CLIPConvNeXtConfig(dims: trunkDims, depths: trunkDepths, embedDim: embedDim, head: visualHead, lnEps: trunkLNEps)
    }

    /// The CLIP text tower: causal, exact GELU (open_clip's ConvNeXt models).
    public var textTower: CLIPTextConfig {
        var c = CLIPTextConfig(width: textWidth, heads: textHeads, layers: textLayers, embedDim: embedDim)
        c.contextLength = contextLength
        c.vocabSize = vocabSize
        c.lnEps = textLNEps
        return c
    }

    /// Reads a config JSON file (the family reference's form) and validates it; errors name the file.
    public static func load(path: String) throws -> Self {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VocaSegError(.input, "cannot read the \(familyName) config file", path: path)
        }
        let config: Self
        do {
            config = try JSONDecoder().decode(Self.self, from: data)
        } catch {
            throw VocaSegError(.input, "not a valid \(familyName) config JSON (\(error))", path: path)
        }
        do { try config.validate() } catch var e as VocaSegError {
            e.path = path
            throw e
        }
        return config
    }
}
