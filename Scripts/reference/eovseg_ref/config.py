"""Model configurations for the EOV-Seg reference: the released S / M / L sizes and two tiny test models.

Field names are the snake_case keys of the Swift `EOVSegConfig` (Sources/VocaSegModels/EOVSeg/EOVSegConfig.swift),
which decodes the tiny goldens' config.json. Full sizes follow ../shared/specs/eovseg.md §1-§2 and the key lists.
Extra fields (vit_layers, vit_text_*, vit_embed_dim, criterion_classes, eps values) describe parts the Swift side
does not run (the unused ViT blocks and the ViT text tower) or constants; decoders may ignore them.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import List

IMAGENET_MEAN = [123.675, 116.280, 103.530]
IMAGENET_STD = [58.395, 57.120, 57.375]


@dataclass
class EOVSegConfig:
    name: str
    backbone: str                      # "resnet" | "convnext"
    resnet_width: int
    resnet_layers: List[int]
    attnpool_heads: int
    attnpool_grid: int
    convnext_dims: List[int]
    convnext_depths: List[int]
    embed_dim: int                     # D
    text_width: int
    text_heads: int
    text_layers: int
    context_length: int
    vocab_size: int
    text_quick_gelu: bool
    vit_width: int
    vit_heads: int
    vit_patch: int
    vit_grid: int
    vit_mlp_dim: int
    agg_dim: int
    hidden_dim: int
    num_queries: int
    num_stages: int
    ffn_dim: int
    query_heads: int
    dynamic_kernel: int
    ensemble_alpha: float
    ensemble_beta: float
    ensemble_on_valid_mask: bool
    object_mask_threshold: float
    overlap_threshold: float
    short_edge: int
    max_size: int
    size_divisibility: int
    pixel_mean: List[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    pixel_std: List[float] = field(default_factory=lambda: list(IMAGENET_STD))
    # Present in the checkpoint but not run at inference (blocks 1.., ln_post, proj, the ViT's text tower).
    vit_layers: int = 12
    vit_embed_dim: int = 512
    vit_text_width: int = 512
    vit_text_heads: int = 8
    vit_text_layers: int = 12
    vit_text_vocab_size: int = 49408
    criterion_classes: int = 133       # training classes; only sizes criterion.empty_weight [classes + 1]

    @property
    def feature_channels(self) -> List[int]:
        if self.backbone == "resnet":
            return [4 * self.resnet_width, 8 * self.resnet_width, 16 * self.resnet_width, 32 * self.resnet_width]
        return list(self.convnext_dims)

    @property
    def aggregator_channels(self) -> List[int]:
        return [self.agg_dim] + [c // 2 for c in self.feature_channels]

    def validate(self) -> None:
        assert self.backbone in ("resnet", "convnext")
        assert self.text_width % self.text_heads == 0 and self.vit_width % self.vit_heads == 0
        assert self.hidden_dim % self.query_heads == 0 and self.size_divisibility % 32 == 0
        if self.backbone == "resnet":
            assert len(self.resnet_layers) == 4 and (32 * self.resnet_width) % self.attnpool_heads == 0
        else:
            assert len(self.convnext_dims) == 4 and len(self.convnext_depths) == 4

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["feature_channels"] = self.feature_channels
        d["aggregator_channels"] = self.aggregator_channels
        return json.dumps(d, indent=2)


def _full(name, backbone, embed_dim, agg_dim, text_width, text_heads, text_layers, quick, on_valid, **kw):
    base = dict(resnet_width=0, resnet_layers=[], attnpool_heads=0, attnpool_grid=0, convnext_dims=[],
                convnext_depths=[])
    base.update(kw)
    return EOVSegConfig(
        name=name, backbone=backbone, embed_dim=embed_dim, text_width=text_width, text_heads=text_heads,
        text_layers=text_layers, context_length=77, vocab_size=49408, text_quick_gelu=quick,
        vit_width=768, vit_heads=12, vit_patch=16, vit_grid=14, vit_mlp_dim=3072,
        agg_dim=agg_dim, hidden_dim=256, num_queries=100, num_stages=3, ffn_dim=2048, query_heads=8,
        dynamic_kernel=3, ensemble_alpha=0.4, ensemble_beta=0.8, ensemble_on_valid_mask=on_valid,
        object_mask_threshold=0.0, overlap_threshold=0.8, short_edge=640, max_size=2560, size_divisibility=32,
        **base)


def small() -> EOVSegConfig:
    return _full("eovseg-s", "resnet", 1024, 128, 512, 8, 12, True, True,
                 resnet_width=64, resnet_layers=[3, 4, 6, 3], attnpool_heads=32, attnpool_grid=7)


def medium() -> EOVSegConfig:
    return _full("eovseg-m", "resnet", 640, 128, 640, 10, 12, True, True,
                 resnet_width=80, resnet_layers=[4, 6, 10, 6], attnpool_heads=40, attnpool_grid=9)


def large() -> EOVSegConfig:
    return _full("eovseg-l", "convnext", 768, 96, 768, 12, 16, False, False,
                 convnext_dims=[192, 384, 768, 1536], convnext_depths=[3, 3, 27, 3])


def _tiny(name, backbone, quick, on_valid, **kw) -> EOVSegConfig:
    # Sizes as the Swift tests expect them (96-px short edge -> res5 3x5 after padding, 10 queries, 3 stages,
    # 4 attention-pool heads of 64). The token embedding (49408 x width) dominates the checkpoint, so the text
    # towers are 8 wide, and the never-run ViT text tower gets a 1024-token vocabulary (vit_text_vocab_size).
    base = dict(resnet_width=0, resnet_layers=[], attnpool_heads=0, attnpool_grid=0, convnext_dims=[],
                convnext_depths=[])
    base.update(kw)
    return EOVSegConfig(
        name=name, backbone=backbone, embed_dim=32, text_width=8, text_heads=2, text_layers=2, context_length=77,
        vocab_size=49408, text_quick_gelu=quick, vit_width=64, vit_heads=4, vit_patch=16, vit_grid=4,
        vit_mlp_dim=256, agg_dim=16, hidden_dim=32, num_queries=10, num_stages=3, ffn_dim=64, query_heads=4,
        dynamic_kernel=3, ensemble_alpha=0.4, ensemble_beta=0.8, ensemble_on_valid_mask=on_valid,
        object_mask_threshold=0.0, overlap_threshold=0.8, short_edge=96, max_size=200, size_divisibility=32,
        vit_layers=2, vit_embed_dim=16, vit_text_width=8, vit_text_heads=2, vit_text_layers=1,
        vit_text_vocab_size=1024, **base)


def tiny_rn() -> EOVSegConfig:
    return _tiny("tiny_rn", "resnet", True, True,
                 resnet_width=8, resnet_layers=[1, 2, 1, 1], attnpool_heads=4, attnpool_grid=3)


def tiny_cnx() -> EOVSegConfig:
    return _tiny("tiny_cnx", "convnext", False, False, convnext_dims=[16, 32, 48, 64], convnext_depths=[1, 1, 2, 1])


CONFIGS = {"s": small, "m": medium, "l": large, "tiny_rn": tiny_rn, "tiny_cnx": tiny_cnx}
SPEC_KEY_FILES = {"s": "eovseg-statedict-r50.txt", "m": "eovseg-statedict-r50x4.txt",
                  "l": "eovseg-statedict-convnext.txt"}


def get_config(size: str) -> EOVSegConfig:
    if size not in CONFIGS:
        raise SystemExit(f"unknown size {size!r}; expected one of {sorted(CONFIGS)}")
    cfg = CONFIGS[size]()
    cfg.validate()
    return cfg
