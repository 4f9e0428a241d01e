"""open_clip's SimpleTokenizer without importing the rest of open_clip.

`import open_clip` pulls in timm and torchvision. The torchvision wheels on PyPI for Linux are CUDA builds, which do
not load next to the CPU-only torch this project installs, so the package import fails. `open_clip/tokenizer.py`
itself needs only ftfy, regex, numpy and torch, so it is loaded from the installed package's folder by path: still
the real implementation, version-pinned by requirements.txt.
"""
from __future__ import annotations

import importlib.util
import os
import sys


def _load():
    spec = importlib.util.find_spec("open_clip")  # locates the package without executing its __init__
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open_clip_torch is not installed (Scripts/setup.sh --reference)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "tokenizer.py")
    module_spec = importlib.util.spec_from_file_location("_open_clip_tokenizer", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["_open_clip_tokenizer"] = module
    module_spec.loader.exec_module(module)
    return module


SimpleTokenizer = _load().SimpleTokenizer
