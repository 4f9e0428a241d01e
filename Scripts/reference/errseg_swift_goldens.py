"""Goldens for the Swift ERR-Seg port's own tests (Tests/VocaSegModelsTests/Goldens/errseg_swift/), made with the
PyTorch/Pillow reference in errseg_ref:

* image_rgb.bin: the raw RGB bytes of errseg_tiny/image.png (so Swift tests need no PNG decoder);
* synthetic.*: a 1500x700 procedural image (formula below, rebuilt in Swift) through the official preprocessing
  (short edge 800 capped at 1333 with PIL bilinear, normalise, squash to 128) and the direct one (normalise, squash);
* visual_mlp.*: the visual tower of the `tiny_mlp` config (L-style MLP projection head) with seeded random weights,
  saved alone under the official keys, a random 64x64 input and its two HSM dense maps.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from errseg_ref.config import tiny, tiny_mlp  # noqa: E402
from errseg_ref.convnext import ConvNeXtVisual  # noqa: E402
from errseg_ref.weights import init_random  # noqa: E402
from errseg_ref.preprocess import normalize_and_squash, preprocess  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
TINY = os.path.join(ROOT, "Tests/VocaSegModelsTests/Goldens/errseg_tiny")
OUT = os.path.join(ROOT, "Tests/VocaSegModelsTests/Goldens/errseg_swift")


def synthetic(width: int, height: int) -> np.ndarray:
    """Smooth gradients plus a hard-edged checker so both the antialiasing and the edges matter."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    r = (x * 255) // (width - 1)
    g = (y * 255) // (height - 1)
    b = np.where(((x // 37) + (y // 23)) % 2 == 0, 40, 220)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


@torch.no_grad()
def visual_mlp(out: str) -> None:
    cfg = tiny_mlp()
    model = ConvNeXtVisual(cfg).eval()
    init_random(model, seed=3)
    sd = {f"sem_seg_head.clip_model.visual.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save({"model": sd}, os.path.join(out, "visual_mlp.pth"))
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    x.numpy().astype("<f4").tofile(os.path.join(out, "visual_mlp.input.bin"))
    r = model.forward_dense(x)
    r["os16_dense"].numpy().astype("<f4").tofile(os.path.join(out, "visual_mlp.os16_dense.bin"))
    r["clip_vis_dense"].numpy().astype("<f4").tofile(os.path.join(out, "visual_mlp.clip_vis_dense.bin"))


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    with Image.open(os.path.join(TINY, "image.png")) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    rgb.tofile(os.path.join(OUT, "image_rgb.bin"))
    cfg = tiny()
    img = synthetic(1500, 700)
    official, resized = preprocess(img, cfg)
    direct = normalize_and_squash(img, cfg.pixel_mean, cfg.pixel_std, cfg.image_size)
    official[0].numpy().astype("<f4").tofile(os.path.join(OUT, "synthetic_official.bin"))
    direct[0].numpy().astype("<f4").tofile(os.path.join(OUT, "synthetic_direct.bin"))
    visual_mlp(OUT)
    meta = {"image_rgb": {"width": rgb.shape[1], "height": rgb.shape[0]},
            "synthetic": {"width": 1500, "height": 700, "resized": list(resized.shape), "input": [3, 128, 128]},
            "torch": torch.__version__}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
