import Testing
@testable import VocaSegRender
import VocaSegCore

@Suite struct ErrorTests {
    @Test func missingFontIsAnInputError() throws {
        let path = "/nonexistent/fonts/NoSuchFont.ttf"
        let error = try #require(throws: VocaSegError.self) {
            try OverlayRenderer(classNames: ["person"], options: OverlayOptions(fontPath: path))
        }
        #expect(error.kind == .input)
        #expect(error.path == path)
        #expect(error.description.hasPrefix(path + ": "))
    }

    @Test func fileThatIsNotAFontIsAnInputError() throws {
        // Package.swift exists in every checkout but FreeType cannot open it as a face.
        let path = #filePath.replacingOccurrences(of: "Tests/VocaSegRenderTests/ErrorTests.swift",
                                                  with: "Package.swift")
        let error = try #require(throws: VocaSegError.self) {
            try OverlayRenderer(classNames: ["person"], options: OverlayOptions(fontPath: path))
        }
        #expect(error.kind == .input)
        #expect(error.path == path)
    }

    @Test func fontIsNotNeededWithoutText() throws {
        var options = blendOnly()
        options.fontPath = "/nonexistent/font.ttf"
        _ = try OverlayRenderer(classNames: ["person"], options: options)
    }

    @Test func labelOutsideVocabularyThrows() throws {
        let renderer = try OverlayRenderer(classNames: ["a", "b"], options: blendOnly())
        let labels = LabelMap(width: 2, height: 1, labels: [1, 2])
        let error = try #require(throws: VocaSegError.self) {
            try renderer.render(frame: RGBImage(width: 4, height: 2), labels: labels)
        }
        #expect(error.kind == .internal)
        #expect(error.message.contains("class 2"))
    }

    @Test func emptyLabelMapThrows() throws {
        let renderer = try OverlayRenderer(classNames: ["a"], options: blendOnly())
        #expect(throws: VocaSegError.self) {
            try renderer.render(frame: RGBImage(width: 4, height: 2), labels: LabelMap(width: 0, height: 0, labels: []))
        }
    }

    @Test func overrideGivenTwiceInDifferentCaseIsUsageError() throws {
        let red = RGBColor(r: 255, g: 0, b: 0), blue = RGBColor(r: 0, g: 0, b: 255)
        let error = try #require(throws: VocaSegError.self) {
            try OverlayRenderer(classNames: ["car"], options: blendOnly(overrides: ["Car": red, "car": blue]))
        }
        #expect(error.kind == .usage)
    }

    @Test func alphaOutOfRangeIsUsageError() throws {
        let error = try #require(throws: VocaSegError.self) {
            try OverlayRenderer(classNames: ["a"], options: blendOnly(alpha: 1.5))
        }
        #expect(error.kind == .usage)
        #expect(throws: VocaSegError.self) { try OverlayRenderer(classNames: [], options: blendOnly()) }
    }
}
