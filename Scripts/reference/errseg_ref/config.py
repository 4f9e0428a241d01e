"""Model configurations for the ERR-Seg reference: the two released sizes and a tiny test model.

Values for full_b / full_l follow ../shared/specs/errseg.md §1.1 (read off the official configs).
The tiny config keeps every structural feature (HSM stride-1 branch, CRM with K < T, 4 ESCF blocks with
spatial and class sequence reduction, 3 GUD steps with real upsampling) at sizes that run in milliseconds.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import List


@dataclass
class ErrSegConfig:
    name: str
    # CLIP ConvNeXt V1 trunk (timm naming)
    trunk_dims: List[int]
    trunk_depths: List[int]
    # CLIP joint embedding size (= TEXT_GUIDANCE_DIM)
    embed_dim: int
    # "linear" (B: Linear C->E, no bias) or "mlp" (L: Linear C->2E +bias, GELU, Linear 2E->E no bias)
    visual_head: str
    # text tower
    text_width: int
    text_heads: int
    text_layers: int
    context_length: int = 77
    vocab_size: int = 49408
    # decoder
    corr_fpn_inter_dim: int = 256
    corr_fpn_fusion_dim: int = 128
    guidance_fpn_inter_dim: int = 256
    guidance_fpn_fusion_dim: int = 128
    decoder_guidance_proj_dims: List[int] = field(default_factory=lambda: [32, 16, 8])
    text_guidance_proj_dim: int = 128
    aggregator_dim: int = 128
    aggregator_heads: int = 4          # hard-coded in the official Decoder
    aggregator_sr_ratios: List[int] = field(default_factory=lambda: [2, 2, 2, 2])
    aggregator_mlp_ratio: int = 3      # hard-coded (hidden_features = 3 * dim)
    cfm_pool: int = 2                  # hard-coded AvgPool2d(2) in the class fusion block
    decoder_dims: List[int] = field(default_factory=lambda: [64, 32, 16])
    # input / inference
    image_size: int = 640              # square CLIP input resolution (INPUT.CROP.SIZE at test)
    min_size_test: int = 800           # detectron2 ResizeShortestEdge defaults used by the eval mapper
    max_size_test: int = 1333
    pixel_mean: List[float] = field(default_factory=lambda: [123.675, 116.280, 103.530])
    pixel_std: List[float] = field(default_factory=lambda: [58.395, 57.120, 57.375])
    prompt_template: str = "A photo of a {} in the scene"
    sample_classes_num: int = 32       # K (not a weight; eval.sh overrides per benchmark)
    crm_top: int = 3                   # per-pixel top-k in the CRM
    crm_rank_weights: List[float] = field(default_factory=lambda: [1.0, 0.1, 0.01])
    guidance_clamp: float = 16.0
    trunk_ln_eps: float = 1e-6         # timm ConvNeXt LayerNorm / LayerNorm2d
    text_ln_eps: float = 1e-5          # open_clip text LayerNorm
    decoder_ln_eps: float = 1e-5       # nn.LayerNorm defaults in the ESCF blocks
    gn_eps: float = 1e-5

    # Derived channel lists, ordered as the official Decoder expects them.
    @property
    def image_guidance_dims(self) -> List[int]:
        """os32, os16, os8, os4 channel counts."""
        return list(reversed(self.trunk_dims))

    @property
    def decoder_guidance_dims(self) -> List[int]:
        """os16, os8, os4 channel counts."""
        return list(reversed(self.trunk_dims[:3]))

    def validate(self) -> None:
        assert len(self.trunk_dims) == 4 and len(self.trunk_depths) == 4
        assert self.corr_fpn_fusion_dim == self.aggregator_dim, "cost embedding feeds the aggregator directly"
        assert self.guidance_fpn_fusion_dim == self.aggregator_dim, "image guidance is concatenated at aggregator width"
        assert self.text_guidance_proj_dim == self.aggregator_dim, "text guidance is concatenated at aggregator width"
        assert self.aggregator_dim % self.aggregator_heads == 0
        assert self.text_width % self.text_heads == 0
        for d in self.decoder_dims:
            assert d % 8 == 0, "GroupNorm uses C // 8 groups"
        assert self.image_size % 32 == 0 and (self.image_size // 16) % 4 == 0, \
            "os16 map must be divisible by the SR ratio and the CFM pool, os32 exactly half of it"
        assert self.visual_head in ("linear", "mlp")

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["image_guidance_dims"] = self.image_guidance_dims
        d["decoder_guidance_dims"] = self.decoder_guidance_dims
        d["aggregator_head_dim"] = self.aggregator_dim // self.aggregator_heads
        d["text_head_dim"] = self.text_width // self.text_heads
        d["gud_group_norm_groups"] = [c // 8 for c in self.decoder_dims]
        return json.dumps(d, indent=2)


def full_b() -> ErrSegConfig:
    return ErrSegConfig(
        name="full_b", trunk_dims=[128, 256, 512, 1024], trunk_depths=[3, 3, 27, 3], embed_dim=640,
        visual_head="linear", text_width=640, text_heads=10, text_layers=12, image_size=640)


def full_l() -> ErrSegConfig:
    return ErrSegConfig(
        name="full_l", trunk_dims=[192, 384, 768, 1536], trunk_depths=[3, 3, 27, 3], embed_dim=768,
        visual_head="mlp", text_width=768, text_heads=12, text_layers=16, image_size=768)


def tiny() -> ErrSegConfig:
    # Why these values: the token embedding (49408 x text_width) dominates the checkpoint, so the text tower is
    # 8 wide (2 heads of 4; stored as fp16 it is still 0.8 MB) and the aggregator 16 wide (4 heads of 4: the head
    # count is fixed). Every other size is the smallest that keeps each code path non-trivial: 128 px input ->
    # os16 8x8 (SFM keys 4x4, CFM 4x4 pooled locations), os32 4x4, HSM 9x9 -> 8x8 resize, GUD 8 -> 16 -> 32.
    return ErrSegConfig(
        name="tiny", trunk_dims=[16, 32, 48, 64], trunk_depths=[1, 1, 2, 1], embed_dim=32,
        visual_head="linear", text_width=8, text_heads=2, text_layers=2,
        corr_fpn_inter_dim=32, corr_fpn_fusion_dim=16, guidance_fpn_inter_dim=32, guidance_fpn_fusion_dim=16,
        decoder_guidance_proj_dims=[16, 8, 8], text_guidance_proj_dim=16, aggregator_dim=16,
        decoder_dims=[32, 16, 8], image_size=128, sample_classes_num=4)


def tiny_mlp() -> ErrSegConfig:
    """Tiny model with the L-style MLP visual head (for testing that code path)."""
    c = tiny()
    c.name = "tiny_mlp"
    c.visual_head = "mlp"
    return c


CONFIGS = {"tiny": tiny, "tiny_mlp": tiny_mlp, "b": full_b, "l": full_l}


def get_config(size: str) -> ErrSegConfig:
    if size not in CONFIGS:
        raise SystemExit(f"unknown size {size!r}; expected one of {sorted(CONFIGS)}")
    cfg = CONFIGS[size]()
    cfg.validate()
    return cfg
