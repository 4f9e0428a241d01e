"""Input pipeline (spec §1.2, §2.1): PIL bilinear shortest-edge resize on uint8 (detectron2 ResizeShortestEdge,
int(x*scale+0.5), max size), ImageNet mean/std in float32, zero padding (after normalising) to a multiple of 32."""
from __future__ import annotations

import os
import sys
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from errseg_ref.preprocess import load_image_rgb, resize_shortest_edge  # noqa: E402,F401


def normalize_and_pad(img: np.ndarray, mean, std, divisibility: int) -> torch.Tensor:
    x = torch.from_numpy(img).permute(2, 0, 1).to(torch.float32)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    x = (x - m) / s
    h, w = x.shape[-2:]
    hp = (h + divisibility - 1) // divisibility * divisibility
    wp = (w + divisibility - 1) // divisibility * divisibility
    return F.pad(x, (0, wp - w, 0, hp - h), value=0.0).unsqueeze(0)


def preprocess(img: np.ndarray, cfg) -> Tuple[torch.Tensor, np.ndarray]:
    """-> (input [1,3,Hp,Wp], resized uint8 HxWx3)."""
    resized = resize_shortest_edge(img, cfg.short_edge, cfg.max_size)
    return normalize_and_pad(resized, cfg.pixel_mean, cfg.pixel_std, cfg.size_divisibility), resized
