import Testing
import VocaSegTensor
import VocaSegTestSupport

@Suite struct PILResizeTests {
    /// Pillow's 8-bit path is integer arithmetic after the coefficients, so the result must be bit-exact.
    /// The goldens use Pillow's classic pass order (horizontal first, all Pillow ≤ 12); see the golden script.
    @Test(arguments: [
        "pil_97x61_to_40x25", "pil_61x97_to_30x50", "pil_200x150_to_80x60", "pil_64x48_to_32x24",
        "pil_90x70_to_89x31", "pil_97x61_to_97x30", "pil_40x25_to_97x61", "pil_150x100_to_127x113",
        "pil_192x108_to_133x75",
    ])
    func matchesPillow(_ name: String) throws {
        let input = try StructuralGoldens.bytes(name + "_in")
        let expected = try StructuralGoldens.bytes(name + "_out")
        let (h, w) = (input.shape[0], input.shape[1])
        let (oh, ow) = (expected.shape[0], expected.shape[1])
        let out = input.values.withUnsafeBufferPointer {
            Ops.pilResizeBilinear($0, width: w, height: h, channels: 3, outWidth: ow, outHeight: oh)
        }
        #expect(out.count == expected.values.count)
        let differing = zip(out, expected.values).filter { $0 != $1 }.count
        #expect(differing == 0, "\(name): \(differing) of \(out.count) bytes differ from Pillow")
    }

    @Test func shortestEdgeShape() {
        // detectron2 ResizeShortestEdge(800, 1333): 683×512 (w×h) → 1067×800; 1920×1080 → 1333×750 (capped).
        #expect(Ops.shortestEdgeResizeShape(height: 512, width: 683, shortEdge: 800, maxSize: 1333) == (800, 1067))
        #expect(Ops.shortestEdgeResizeShape(height: 1080, width: 1920, shortEdge: 800, maxSize: 1333) == (750, 1333))
        #expect(Ops.shortestEdgeResizeShape(height: 640, width: 480, shortEdge: 800, maxSize: 1333) == (1067, 800))
    }
}
