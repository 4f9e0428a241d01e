"""Writes named tensors as raw little-endian files plus manifest.json (name -> shape, dtype, file, sha256),
so that Swift tests can read them without Python or numpy."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, Iterable, Tuple

import numpy as np
import torch


def flatten_intermediates(r: Dict[str, object], prefix: str = "") -> Iterable[Tuple[str, torch.Tensor]]:
    """{"trunk_features": {"os4": t}, "escf_out": [t0, t1]} -> ("trunk_features.os4", t), ("escf_out.0", t0) ..."""
    for k, v in r.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from flatten_intermediates(v, name + ".")
        elif isinstance(v, (list, tuple)):
            for i, t in enumerate(v):
                yield f"{name}.{i}", t
        else:
            yield name, v


def to_array(t) -> np.ndarray:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    if a.dtype.kind in "iub":
        return np.ascontiguousarray(a.astype("<i4"))
    return np.ascontiguousarray(a.astype("<f4"))


class GoldenWriter:
    def __init__(self, directory: str):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.entries: Dict[str, dict] = {}

    def add(self, name: str, t) -> None:
        a = to_array(t)
        data = a.tobytes()
        file = f"{name}.bin"
        with open(os.path.join(self.directory, file), "wb") as f:
            f.write(data)
        self.entries[name] = {"shape": list(a.shape), "dtype": "float32" if a.dtype.kind == "f" else "int32",
                              "file": file, "sha256": hashlib.sha256(data).hexdigest()}

    def write_manifest(self, extra: dict) -> None:
        doc = dict(extra)
        doc["tensors"] = self.entries
        with open(os.path.join(self.directory, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=False)
            f.write("\n")
