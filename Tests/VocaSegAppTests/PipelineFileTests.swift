import Foundation
import Testing
import VocaSegCore
@testable import VocaSegApp

@Suite struct PipelineFileTests {
    @Test(arguments: ["street.yaml", "indoor.yaml", "benchmark.yaml"])
    func shippedExamplesLoad(_ name: String) throws {
        let path = Repo.root.appendingPathComponent("Pipelines/\(name)").path
        let p = try PipelineFile.load(path: path)
        #expect(p.model == "errseg-b")
        var o = SegmentOptions()
        p.apply(to: &o, explicitlySet: [])
        o.inputs = ["x.mp4"]
        try o.validateFlags()
        if name == "indoor.yaml" {
            // The vocabulary file is found relative to the pipeline file and parses with synonyms.
            let vocab = try VocabularyLoader.load(classes: o.classes, file: o.vocabularyFile)
            #expect(vocab.names.contains("table"))
            #expect(vocab.classes.first { $0.name == "sofa" }?.synonyms == ["sofa", "couch"])
            #expect(o.every == 2)
        }
    }

    @Test func streetSettingsReachTheOptions() throws {
        let p = try PipelineFile.load(path: Repo.root.appendingPathComponent("Pipelines/street.yaml").path)
        var o = SegmentOptions()
        p.apply(to: &o, explicitlySet: ["alpha"])
        #expect(o.crf == 20 && o.preset == "veryfast")
        #expect(o.masksBesideOverlay && o.jsonLinesBesideOverlay)
        #expect(o.naming == "{stem}.street")
        #expect(o.colorOverrides["road"] == "#804080")
        #expect(o.alpha == SegmentOptions().alpha)  // set on the command line, so the file's value does not apply
        #expect(p.modelSettings["crm-k"] == "8")
    }

    @Test func keyframeSettingsReachTheOptionsAndBadOnesNameTheirLine() throws {
        let p = try PipelineFile.parse("""
            vocabulary: [a, b]
            inference:
              keyframes: auto
              max_gap: 6
              propagate: hold
            """, path: "keys.yaml")
        var o = SegmentOptions()
        p.apply(to: &o, explicitlySet: [])
        var expected = AutoKeyframes()
        expected.maxGap = 6
        #expect(o.keyframePolicy == .auto(expected))
        #expect(o.propagation == .hold)
        #expect(o.sourceOptions.exportMotionVectors, "auto keyframes read the vectors")
        // Flags win over the file.
        var flagged = SegmentOptions()
        flagged.keyframes = .every(3)
        p.apply(to: &flagged, explicitlySet: ["keyframes", "propagate"])
        #expect(flagged.keyframePolicy == .every(3) && flagged.propagation == .motion)
        #expect(error("vocabulary: [a]\ninference:\n  keyframes: sometimes\n")
            .contains("inference.keyframes (line 3)"))
        // Without propagation or skipped frames, nothing decodes vectors.
        #expect(!SegmentOptions().sourceOptions.exportMotionVectors)
    }

    @Test func precisionReachesTheOptionsAndABadOneNamesItsLine() throws {
        let p = try PipelineFile.parse("vocabulary: [a, b]\ninference:\n  precision: bf16\n", path: "p.yaml")
        var o = SegmentOptions()
        p.apply(to: &o, explicitlySet: [])
        #expect(o.precision == .bf16)
        var flagged = SegmentOptions()
        p.apply(to: &flagged, explicitlySet: ["precision"])  // --precision on the command line wins
        #expect(flagged.precision == .fp32)
        #expect(error("vocabulary: [a]\ninference:\n  precision: fp16\n").contains("inference.precision (line 3)"))
        #expect(throws: VocaSegError.self) { try SegmentOptions.precision(parsing: "half") }
    }

    @Test func slidingSettingsReachTheOptions() throws {
        let p = try PipelineFile.parse("""
            vocabulary: [a, b]
            inference:
              mode: sliding
              window: 512
              overlap: 0.25
              global_view: false
              global_weight: 0.3
              max_side: 2560
            crm:
              scope: per-window
            """, path: "s.yaml")
        var o = SegmentOptions()
        p.apply(to: &o, explicitlySet: ["overlap"])
        #expect(o.sliding.mode == .sliding && o.sliding.window == 512 && !o.sliding.globalView)
        #expect(o.sliding.globalWeight == 0.3 && o.sliding.maxSide == 2560 && o.sliding.crm == .perWindow)
        #expect(o.sliding.overlap == SlidingWindowOptions().overlap)  // given on the command line instead
        #expect(error("vocabulary: [a]\ninference:\n  mode: tiles\n").contains("inference.mode (line 3): must be one of full, sliding"))
    }

    func error(_ yaml: String) -> String {
        do {
            _ = try PipelineFile.parse(yaml, path: "bad.yaml")
            return "no error"
        } catch let e as VocaSegError {
            #expect(e.kind == .usage)
            return e.description
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func aTypoNamesTheFieldAndSuggestsTheRightOne() {
        let message = error("model: errseg-b\nvocabulary: [a, b]\noutptus:\n  masks: true\n")
        #expect(message.hasPrefix("bad.yaml: field outptus (line 3): unknown field (did you mean outputs?)"), "\(message)")
        let nested = error("vocabulary: [a]\ninference:\n  evry: 2\n")
        #expect(nested.contains("field inference.evry (line 3)") && nested.contains("inference.every"), "\(nested)")
    }

    @Test func wrongTypesAndRangesAreNamed() {
        #expect(error("vocabulary: [a]\ninference:\n  every: fast\n").contains("inference.every (line 3): must be a whole number"))
        #expect(error("vocabulary: [a]\noutputs:\n  overlay:\n    crf: 99\n").contains("outputs.overlay.crf (line 4): must be between 0 and 51"))
        #expect(error("vocabulary: [a]\nweights: randm\n").contains("weights (line 2): must be one of checkpoint, random"))
        #expect(error("vocabulary: [a]\noutputs:\n  overlay:\n    colors: {road: red}\n").contains("colour like"))
        #expect(error("- a\n- b\n").contains("must be a mapping"))
        #expect(error("vocabulary: [a, a]\n").contains("more than once"))
        #expect(error("vocabulary: [a\n").contains("not valid YAML"))
    }

    /// Found by the pipeline fuzzer (Fuzz/Regressions/pipeline): a vocabulary the Vocabulary type refuses gave an
    /// error that named no file. Now it names the file, the field and the line like every other field error.
    @Test func aRefusedVocabularyNamesTheFile() throws {
        let path = Repo.root.appendingPathComponent("Fuzz/Regressions/pipeline/duplicate-class.yaml").path
        do {
            _ = try PipelineFile.load(path: path)
            Issue.record("the duplicated classes were accepted")
        } catch let e as VocaSegError {
            #expect(e.kind == .usage)
            #expect(e.description.hasPrefix("\(path): field vocabulary (line 5): the vocabulary names a class more "
                                            + "than once: plant"), "\(e)")
        }
        #expect(error("vocabulary: []\n").hasPrefix("bad.yaml: field vocabulary (line 1): the vocabulary is empty"))
        #expect(error("vocabulary: [a, b, a]\n").hasPrefix("bad.yaml: field vocabulary (line 1): "))
    }
}
