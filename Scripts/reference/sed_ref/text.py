"""SED's text bank (spec §1.3 item 6): 80 ImageNet prompt templates x synonyms -> [T, 80, E] unit vectors.

For class string c: if it contains ", " its synonyms are c.split(", ") (else the one name). Prompts are made
template-major, synonym-minor ([tpl0(s0), tpl0(s1), ..., tpl1(s0), ...]), tokenised with open_clip's
SimpleTokenizer (context 77), encoded (EOT pooling @ text_projection) and L2-normalised; with more than one synonym
they are reshaped to [80, S, E], averaged over S and normalised again. Row t of the bank is class t, column p
template p: the template axis becomes conv1's 80 input channels.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import List, Sequence

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from open_clip_tokenizer import SimpleTokenizer  # noqa: E402

# The 80 templates of sed/third_party/imagenet_templates.py::IMAGENET_TEMPLATES (the prompt list of the OpenAI
# CLIP ImageNet notebook; SED leaves its extra 81st entry, 'A photo of a {} in the scene.', commented out).
# Order matters: index p is the p-th channel of the cost volume.
IMAGENET_TEMPLATES = [
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.",
]
assert len(IMAGENET_TEMPLATES) == 80


def synonyms(class_name: str) -> List[str]:
    """SED's rule: split on ", " (comma + space) only."""
    return class_name.split(", ") if ", " in class_name else [class_name]


def prompts_for_class(class_name: str, templates: Sequence[str] = IMAGENET_TEMPLATES) -> List[str]:
    """Template-major, synonym-minor."""
    syns = synonyms(class_name)
    return [t.format(s) for t in templates for s in syns]


def load_vocab(path: str) -> List[str]:
    """Class strings from
      - a JSON list of strings, or a JSON object {"classes": [...]} (strings used as they are, like SED's
        datasets/*.json; synonyms separated by ", "), or
      - a synonym text file: one class per line, synonyms separated by commas, optionally prefixed with 'id:'
        (FC-CLIP style, e.g. ../shared/data/vocab-synonyms/ade20k_150.txt; a 'N:invalid_class_id' line is skipped).
        Each line becomes 'syn1, syn2, ...' (whitespace around the commas dropped)."""
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        names = doc["classes"] if isinstance(doc, dict) else doc
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
            raise SystemExit(f"{path}: expected a JSON list of class strings or {{\"classes\": [...]}}")
        return list(names)
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if not line.strip():
                continue
            m = re.match(r"^\s*\d+:(.*)$", line)
            body = m.group(1) if m else line
            if m and body.strip() == "invalid_class_id":
                continue
            names.append(", ".join(s.strip() for s in body.split(",") if s.strip()))
    if not names:
        raise SystemExit(f"{path}: no classes")
    return names


class PromptTokenizer:
    def __init__(self, bpe_path: str, context_length: int = 77):
        self.tok = SimpleTokenizer(bpe_path=bpe_path, context_length=context_length)

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tok(list(texts))


@torch.no_grad()
def encode_prompts(clip, tokens: torch.Tensor) -> torch.Tensor:
    """[n,77] token ids -> [n,E] (not normalised). open_clip's encode_text, run only up to the last EOT position of
    the batch: the attention is causal, so positions after a row's EOT never reach its EOT output."""
    eot = tokens.argmax(dim=-1)  # the EOT id (49407) is the largest id in every row
    length = int(eot.max()) + 1
    x = clip.token_embedding(tokens[:, :length]) + clip.positional_embedding[:length]
    x = clip.ln_final(clip.transformer(x))
    return x[torch.arange(x.shape[0]), eot] @ clip.text_projection


@torch.no_grad()
def text_bank(clip, class_names: Sequence[str], tokenizer: PromptTokenizer,
              templates: Sequence[str] = IMAGENET_TEMPLATES, progress: bool = False) -> torch.Tensor:
    """-> [T, P, E] float32, every row unit length. One encoder batch per class, like the original."""
    rows = []
    p = len(templates)
    for i, name in enumerate(class_names):
        e = encode_prompts(clip, tokenizer(prompts_for_class(name, templates)))
        e = e / e.norm(dim=-1, keepdim=True)
        if e.shape[0] != p:
            e = e.reshape(p, -1, e.shape[-1]).mean(dim=1)
            e = e / e.norm(dim=-1, keepdim=True)
        rows.append(e)
        if progress and (i + 1) % 25 == 0:
            print(f"   text bank: {i + 1}/{len(class_names)} classes", flush=True)
    return torch.stack(rows, dim=0)
