"""Vocabulary handling for EOV-Seg (spec §1.3, §1.4, §2.0, §4.2): synonyms, the 14 VILD prompts, tokens, seen mask."""
from __future__ import annotations

import json
import os
import sys
from typing import List, Sequence, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from open_clip_tokenizer import SimpleTokenizer  # noqa: E402

VILD_PROMPT = [
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
]


def split_synonyms(class_name: str) -> List[str]:
    """'wall, walls,brick wall' -> ['wall', 'walls', 'brick wall'] (replace ', ' by ',' then split on ',')."""
    return class_name.replace(", ", ",").split(",")


def read_synonym_file(path: str) -> List[str]:
    """FC-CLIP style 'id:name,synonym,...' lines; the '0:invalid_class_id' line is skipped."""
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if not line.strip():
                continue
            _, name = line.split(":", 1)
            if name == "invalid_class_id":
                continue
            names.append(name)
    return names


def load_vocab(path: str) -> Tuple[List[str], List[bool]]:
    """A vocabulary is one of:
      - a JSON list of class strings (each a comma-separated synonym list; all classes are things),
      - a JSON object {"classes": [...], "thing": [true|false|0|1 ...]},
      - an FC-CLIP synonym .txt file ('id:name,synonym' lines; all classes are things).
    Returns (class strings, thing flags)."""
    if path.endswith(".txt"):
        names = read_synonym_file(path)
        return names, [True] * len(names)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if isinstance(doc, list):
        return list(doc), [True] * len(doc)
    names = list(doc["classes"])
    thing = [bool(t) for t in doc.get("thing", [True] * len(names))]
    if len(thing) != len(names):
        raise SystemExit(f"{path}: {len(names)} classes but {len(thing)} thing flags")
    return names, thing


def prompts_for(class_names: Sequence[str]) -> Tuple[List[str], List[int]]:
    """Class-major, then synonym, then template. Returns (prompts, synonyms per class)."""
    prompts, counts = [], []
    for name in class_names:
        syns = split_synonyms(name)
        counts.append(len(syns))
        for s in syns:
            prompts.extend(t.format(s) for t in VILD_PROMPT)
    return prompts, counts


def tokenize_prompts(prompts: Sequence[str], bpe_path: str, context_length: int = 77) -> torch.Tensor:
    return SimpleTokenizer(bpe_path=bpe_path, context_length=context_length)(list(prompts))


def seen_mask(class_names: Sequence[str], train_synonym_file: str) -> torch.Tensor:
    """§4.2 category_overlapping_mask: 1 if any synonym of the class is one of the COCO-panoptic train synonyms."""
    train = {s for n in read_synonym_file(train_synonym_file) for s in split_synonyms(n)}
    return torch.tensor([int(not train.isdisjoint(split_synonyms(n))) for n in class_names], dtype=torch.int32)
