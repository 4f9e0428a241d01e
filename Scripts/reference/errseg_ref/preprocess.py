"""Pre- and post-processing exactly as the official eval path (detectron2 default test mapper + ERRSeg.forward).

1. read RGB uint8 (EXIF orientation applied);
2. ResizeShortestEdge(800, max 1333): PIL BILINEAR on uint8 (antialiased when shrinking), uint8 result;
3. (x - mean) / std per channel in float32 (RGB, 0-255 scale);
4. F.interpolate bilinear, align_corners=False, no antialias, to the square CLIP size (aspect NOT kept);
post: sigmoid -> bilinear (align_corners=False) to the original H0 x W0 -> argmax over classes.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps


def load_image_rgb(path: str) -> np.ndarray:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def shortest_edge_size(h: int, w: int, short_edge: int, max_size: int) -> Tuple[int, int]:
    """detectron2 ResizeShortestEdge.get_output_shape: scale the short side to `short_edge`; if the long side then
    exceeds `max_size`, scale down so the long side equals it; round each side with int(x + 0.5)."""
    scale = short_edge / min(h, w)
    if h < w:
        nh, nw = float(short_edge), scale * w
    else:
        nh, nw = scale * h, float(short_edge)
    if max(nh, nw) > max_size:
        s = max_size / max(nh, nw)
        nh, nw = nh * s, nw * s
    return int(nh + 0.5), int(nw + 0.5)


def resize_shortest_edge(img: np.ndarray, short_edge: int = 800, max_size: int = 1333) -> np.ndarray:
    h, w = img.shape[:2]
    nh, nw = shortest_edge_size(h, w, short_edge, max_size)
    out = Image.fromarray(img).resize((nw, nh), Image.BILINEAR)
    return np.asarray(out, dtype=np.uint8).copy()


def normalize_and_squash(img: np.ndarray, mean, std, size: int) -> torch.Tensor:
    """uint8 HxWx3 -> [1,3,size,size] float32: normalise, then non-aspect bilinear resize (no antialias)."""
    x = torch.from_numpy(img).permute(2, 0, 1).to(torch.float32)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    x = ((x - m) / s).unsqueeze(0)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def preprocess(img: np.ndarray, cfg) -> Tuple[torch.Tensor, np.ndarray]:
    """Returns (model input [1,3,S,S], the short-edge-resized uint8 image)."""
    resized = resize_shortest_edge(img, cfg.min_size_test, cfg.max_size_test)
    return normalize_and_squash(resized, cfg.pixel_mean, cfg.pixel_std, cfg.image_size), resized
