import Testing
import VocaSegCore

/// Thing or stuff: the marker wins, then the known datasets by name, then thing.
@Suite struct VocabularyKindTests {
    @Test func markersInAFileOverrideTheDatasets() throws {
        let v = try Vocabulary(fileContents: "person [stuff]\nroad, street [thing]\nsky\nperson-ish robot\n",
                               path: "v.txt")
        #expect(v.classes.map(\.isThing) == [false, true, false, true])
        #expect(v.classes[1].synonyms == ["road", "street"])
    }

    @Test func knownNamesFromCocoAdeAndCityscapes() throws {
        let v = try Vocabulary(commaSeparated: "person, grass, wall, rider, bed, sky [thing]")
        // COCO: person thing, grass stuff; ADE20K: wall stuff, bed thing; Cityscapes: rider thing.
        #expect(v.classes.map(\.isThing) == [true, false, false, true, true, true])
        #expect(v.names == ["person", "grass", "wall", "rider", "bed", "sky"])
    }

    @Test func aMisspeltMarkerIsAOneLineErrorNamingTheFileAndLine() {
        #expect(throws: VocaSegError(.input, "line 2: unknown class marker [stuf] after \"road\": use [thing] or [stuff]",
                                     path: "v.txt")) {
            try Vocabulary(fileContents: "person\nroad [stuf]\n", path: "v.txt")
        }
        #expect(throws: VocaSegError(.usage, "unknown class marker [x] after \"road\": use [thing] or [stuff]")) {
            try Vocabulary(commaSeparated: "person, road [x]")
        }
    }
}
