#!/usr/bin/env python3
"""Golden token ids for the Swift CLIP tokenizer (Tests/VocaSegModelsTests/TokenizerTests.swift).

Runs open_clip's own tokenizer (the SimpleTokenizer that get_tokenizer("convnext_base_w_320") returns, the
text tower of ERR-Seg/EOV-Seg's CLIP) on a corpus:
  * every ADE-847 class name from ../shared/data/vocab/ade847.json, as listed and as its first synonym;
  * the first synonym inside prompt templates;
  * hand-written strings exercising the clean-up and the pre-tokenizer (unicode, punctuation, digits,
    contractions, HTML references, whitespace, case, over-long input, empty input).
Strings from ../shared are not copied: a case names the file, the index and how the text is derived from it,
and the test rebuilds the text from ../shared. Hand-written strings are stored verbatim.

For each case the golden holds `encode` (SimpleTokenizer.encode: no start/end token) and, where it is not just
[49406] + encode + [49407] (texts cut to 77), `tokens`: tokenizer(text)[0] up to and including the last end token;
the rest of the 77 positions are zeros.

Usage: python3 Scripts/reference/tokenizer_goldens.py   (from the repository root)
"""
import html.entities
import json
import os
import sys

import ftfy
import ftfy.chardata
import open_clip

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT = os.path.join(ROOT, "Tests", "VocaSegModelsTests", "Goldens", "tokenizer_open_clip.json")

TEMPLATES = [
    "A photo of a {} in the scene.",
    "a photo of a {}.",
    "There is a {} in the scene.",
]

# Hand-written strings: each line of the corpus exists to exercise one rule of open_clip's clean-up or split.
OWN_STRINGS = [
    # empty and whitespace only
    "", " ", "\t\n", "   \u00a0\u3000  ",
    # plain words, case
    "person", "Person", "PERSON", "traffic light", "Traffic Light", "pOtTeD pLaNt", "TV monitor",
    "a photo of a person.", "A PHOTO OF A DOG IN THE SCENE.",
    # whitespace runs, tabs, newlines, leading/trailing space
    "  leading and trailing  ", "tab\tseparated\twords", "new\nline\r\nwindows\rmac", "many     spaces",
    "line\u2028separator\u2029paragraph", "nel\u0085char", "vertical\x0btab\x0cform feed",
    "info\x1cseparators\x1dhere\x1e\x1f", "no-break\u00a0space", "thin\u2009space and em\u2003space",
    # contractions (and what looks like them)
    "it's", "don't", "they're", "we've", "i'm", "we'll", "he'd", "IT'S", "DON'T", "Y'ALL'D",
    "'s", "'sam", "o'neil", "rock 'n' roll", "'''s", "tom's dog's bone", "it\u2019s curly", "\u2018quoted\u2019",
    "\u201cdouble curly\u201d", "\u201edouble low\u201f", "it\u02bcs",
    # digits
    "0", "123", "3.14159", "1,000,000", "2nd floor", "4x4 truck", "covid-19", "route 66", "year 2024",
    "\u0663\u0664 arabic digits", "\u00bd half \u00b2 squared \u2460 circled", "\u2163 roman", "\uff11\uff12 fullwidth digits",
    # punctuation runs and symbols
    "!", "?!?!", "...", "hello, world!", "a/b\\c", "(parenthesised)", "[brackets]{braces}<angles>",
    "@#$%^&*", "e-mail", "--double--dash--", "under_score", "~tilde~", "`back`ticks`", "\"quoted\"",
    "!!!!!!!!!!!!!!!!!!!!", "a.b.c.d", "$100", "50%", "#hashtag", "@mention", "C++ and C#",
    # accents, NFC and combining marks
    "caf\u00e9", "cafe\u0301", "na\u00efve r\u00e9sum\u00e9", "Cr\u00e8me Br\u00fbl\u00e9e", "\u00c5ngstr\u00f6m",
    "Stra\u00dfe", "STRASSE", "\u0130stanbul", "\u0131\u0307", "ma\u00f1ana", "a\u0308\u0301", "q\u0307",
    "e\u0301\u0301", "\u1e9b\u0323", "Z\u0302\u0323", "\u212b angstrom sign", "\u212a kelvin sign", "\u2126 ohm",
    # Greek, Cyrillic, other scripts
    "\u039f\u0394\u039f\u03a3", "\u03a3\u03a3", "\u03b1\u03b2\u03b3 \u0394\u0395\u0396", "\u03a3 alone",
    "\u039f\u0394\u039f\u03a3.", "\u041c\u043e\u0441\u043a\u0432\u0430", "\u05e9\u05dc\u05d5\u05dd",
    "\u0645\u0631\u062d\u0628\u0627", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\u1f08\u03b8\u03ae\u03bd\u03b1",
    # CJK
    "\u732b", "\u72d7\u3068\u732b", "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0", "\ud55c\uad6d\uc5b4", "\u4e2d\u6587 and English",
    "\uff8a\uff9d\uff76\uff78 halfwidth katakana", "\uff21\uff22\uff23 fullwidth latin", "\uff08\uff01\uff09",
    # emoji and symbols outside the BMP
    "\U0001f600", "dog \U0001f415 and cat \U0001f408", "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",
    "\U0001f1e9\U0001f1ea flag", "\u2764\ufe0f heart", "\U0001d400\U0001d401 math bold", "\u2603 snowman",
    "\U00020000 ext-b", "\u00a9 \u00ae \u2122", "\u20ac5 \u00a35 \u00a55", "\u2192 \u21d2 \u2200x",
    # ligatures and width forms
    "\ufb01sh \ufb02ower", "\ufb03 \ufb04 \ufb05 \ufb06", "\u0133sselmeer", "\u01c6 \u01c4 \u01c5", "\u0149",
    # control characters
    "bell\x07char", "null\x00char", "bom\ufeffchar", "\x1b[31mred\x1b[0m text", "zero\u200bwidth",
    "zwj\u200dzwnj\u200c", "soft\u00adhyphen", "\x80\x91\x92\x93\x94\x99",
    # HTML references
    "&amp;", "fish &amp; chips", "&lt;b&gt;", "&quot;quoted&quot;", "&apos;", "&#39;", "&#x27;", "&#233;",
    "&#xe9;", "&#XE9;", "caf&eacute;", "&EACUTE;", "&SZLIG;", "&nbsp;non&nbsp;breaking", "&copy; 2024",
    "&COPY;", "&amp;amp;", "&amp;amp;amp;amp;", "&ampx", "&amp", "&notit;", "&notin;", "&not", "&#128;",
    "&#x80;", "&#0;", "&#13;", "&#1;", "&#xD800;", "&#x110000;", "&#99999999999;", "&#65", "&#x41",
    "&#65abc;", "&#x3b;", "&unknownentity;", "&", "& &", "&;", "&#;", "&#x;", "tom &amp; jerry < 3",
    "first line\nsecond &amp; line <tag>", "&lang;&rang;", "&alpha;&Omega;", "&hearts;", "&hellip;", "&mdash;",
    "&HilbertSpace;", "&Jscr;", "&checkmark;", "&fjlig;", "&NotNestedGreaterGreater;", "&nGt;", "&ETA;",
    "&ntilde; &Ntilde; &NTILDE; &nTILDE;", "&AELIG;", "&MICRO;", "&LTX;", "&ltx", "&amp;lt;", "&amp;#65;",
    "&#38;#65;", "&#x26;amp;amp;", "&AMP;AMP;", "&eacute &EACUTE", "&acirc;&acirc", "&#x1F600;&#128512;",
    "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "&#0000000000000000000000065;",
    # special-token text
    "<start_of_text>", "<end_of_text>", "<START_OF_TEXT> hi <End_Of_Text>", "<start_of_text>dog",
    "it\u017f", "<\u017ftart_of_text>",
    # long words and merges
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababab",
    "the the the the", "hello world", "tokenization tokenizer tokens",
]

# Mojibake that ftfy's fix_encoding repairs and the Swift tokenizer (by design) does not: tested as a known issue.
MOJIBAKE_STRINGS = ["caf\u00c3\u00a9", "\u00c3\u00bcber", "doesn\u00e2\u20ac\u2122t", "\u00c2\u00a35"]

LONG_STRINGS = [
    " ".join(["person"] * 100),
    "a photo of " + ", ".join(["a chair", "a table", "a lamp", "a sofa", "a rug"] * 20),
    "\U0001f600" * 40,
    "x" * 500,
    " ".join(str(i) for i in range(200)),
]


def main():
    tokenizer = open_clip.get_tokenizer("convnext_base_w_320")
    assert isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer), type(tokenizer)
    assert tokenizer.context_length == 77

    def case(ids_source, text):
        encoded = tokenizer.encode(text)
        row = tokenizer(text)[0].tolist()
        same_as_tokenize = open_clip.tokenize([text])[0].tolist()
        assert row == same_as_tokenize
        # The last end token ends the text (typing "<end_of_text>" in a text yields that id earlier too).
        end = len(row) - 1 - row[::-1].index(tokenizer.eot_token_id)
        assert all(v == 0 for v in row[end + 1:])
        ids_source["encode"] = encoded
        # Stored only where it is not simply [start] + encode + [end] (texts cut to the context length).
        if row[: end + 1] != [tokenizer.sot_token_id] + encoded + [tokenizer.eot_token_id]:
            ids_source["tokens"] = row[: end + 1]
        return ids_source

    cases = []
    with open(os.path.join(SHARED, "data", "vocab", "ade847.json"), encoding="utf-8") as f:
        ade847 = json.load(f)
    assert isinstance(ade847, list) and len(ade847) == 847
    for index, entry in enumerate(ade847):
        cases.append(case({"source": "vocab/ade847.json", "index": index}, entry))
        first = entry.split(",")[0].strip()
        cases.append(case({"source": "vocab/ade847.json", "index": index, "firstSynonym": True}, first))
        template = TEMPLATES[index % len(TEMPLATES)]
        cases.append(case({"source": "vocab/ade847.json", "index": index, "firstSynonym": True,
                           "template": template}, template.replace("{}", first)))
    for text in OWN_STRINGS + LONG_STRINGS:
        cases.append(case({"text": text}, text))

    mojibake = [case({"text": text}, text) for text in MOJIBAKE_STRINGS]

    # Other context lengths (the same truncation rule: keep the start token, end on the end token).
    short_contexts = []
    for text, length in [("a photo of a traffic light in the scene.", 5), ("dog", 3), ("dog", 2),
                         ("dog", 1), ("a photo of a dog", 16), ("", 1)]:
        short_contexts.append({"text": text, "contextLength": length,
                               "tokens": tokenizer(text, context_length=length)[0].tolist()})

    golden = {
        "generator": "Scripts/reference/tokenizer_goldens.py",
        "open_clip": open_clip.__version__,
        "ftfy": ftfy.__version__,
        "python": sys.version.split()[0],
        "mergeCount": len(tokenizer.bpe_ranks),
        "vocabularySize": tokenizer.vocab_size,
        "contextLength": tokenizer.context_length,
        "html5EntityCount": len(html.entities.html5),
        "ftfyEntityCount": len(ftfy.chardata.HTML_ENTITIES),
        "cases": cases,
        "shortContexts": short_contexts,
        "mojibake": mojibake,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {len(cases)} cases, open_clip {open_clip.__version__}, ftfy {ftfy.__version__}")


if __name__ == "__main__":
    main()
