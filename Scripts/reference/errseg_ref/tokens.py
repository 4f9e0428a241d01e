"""Prompts and tokens: open_clip's SimpleTokenizer (the real implementation) over the shared CLIP BPE file."""
from __future__ import annotations

import json
from typing import List

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from open_clip_tokenizer import SimpleTokenizer  # noqa: E402


def prompt_for(class_name: str, template: str) -> str:
    """Only the first synonym of a 'a, b, c' class string is used at inference."""
    if ", " in class_name:
        class_name = class_name.split(", ")[0]
    return template.format(class_name)


def load_class_names(path: str) -> List[str]:
    with open(path, encoding="utf-8") as f:
        names = json.load(f)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SystemExit(f"{path}: expected a JSON list of class-name strings")
    return names


def tokenize(class_names: List[str], template: str, bpe_path: str, context_length: int = 77) -> torch.Tensor:
    tok = SimpleTokenizer(bpe_path=bpe_path, context_length=context_length)
    return tok([prompt_for(n, template) for n in class_names])
