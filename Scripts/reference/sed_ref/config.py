"""Model configurations for the SED reference: the two released sizes (b, l) and two tiny test models.

Values for b / l follow ../shared/specs/sliding-window-sed-mrovseg.md §1.2 (configs/convnextB_768.yaml,
configs/convnextL_768.yaml, the open_clip model configs convnext_base_w_320 / convnext_large_d_320, and eval.sh's
POOLING_SIZES [1,1]). The tiny configs shrink only the CLIP towers and the squash size; the decoder keeps the
real hyperparameters (conv1 80->128 7x7, guidance projections 32/16/8, decoder dims 64/32/16, hidden 128, 4 heads,
kernel 9), its appearance-guidance in-channels being the tiny trunk's res4/res3/res2 widths.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import List

CLIP_PIXEL_MEAN = [122.7709383, 116.7460125, 104.09373615]
CLIP_PIXEL_STD = [68.5005327, 66.6321579, 70.3231630]


@dataclass
class SEDConfig:
    name: str
    # CLIP ConvNeXt V1 trunk (timm naming; trunk_dims = widths of res2, res3, res4, res5)
    trunk_dims: List[int]
    trunk_depths: List[int]
    # CLIP joint embedding size E (text embedding and dense visual embedding)
    embed_dim: int
    # "linear" (B: Linear C5->E, no bias) or "mlp" (L: Linear C5->2E + bias, GELU, Linear 2E->E no bias)
    visual_head: str
    # open_clip text tower (exact-erf GELU: timm towers force nn.GELU, and neither config asks for QuickGELU)
    text_width: int
    text_heads: int
    text_layers: int
    context_length: int = 77
    vocab_size: int = 49408
    # decoder ("Aggregator")
    prompt_channels: int = 80          # number of prompt templates = conv1 in-channels = first corr-guidance width
    hidden_dim: int = 128
    corr_embed_kernel: int = 7         # conv1: Conv2d(80, 128, 7, pad 3)
    decoder_dims: List[int] = field(default_factory=lambda: [64, 32, 16])
    decoder_guidance_proj_dims: List[int] = field(default_factory=lambda: [32, 16, 8])
    num_heads: int = 4
    kernel_sizes: List[int] = field(default_factory=lambda: [9, 9, 9])
    pooling_size: List[int] = field(default_factory=lambda: [1, 1])  # eval.sh: POOLING_SIZES [1,1] (identity)
    # input / inference
    clip_resolution: int = 768         # square network input (aspect ratio not kept)
    min_size_test: int = 640           # detectron2 ResizeShortestEdge of the test mapper
    max_size_test: int = 2560
    pixel_mean: List[float] = field(default_factory=lambda: list(CLIP_PIXEL_MEAN))  # RGB, 0..255 scale
    pixel_std: List[float] = field(default_factory=lambda: list(CLIP_PIXEL_STD))
    trunk_ln_eps: float = 1e-6         # timm ConvNeXt LayerNorm / LayerNorm2d (also trunk.head.norm)
    text_ln_eps: float = 1e-5          # open_clip text LayerNorm
    cnext_ln_eps: float = 1e-6         # decoder ConvNeXt block LayerNorm
    attn_ln_eps: float = 1e-5          # class-attention norm1 / norm2 (nn.LayerNorm default)
    gn_eps: float = 1e-5               # DoubleConv GroupNorm
    linear_attn_eps: float = 1e-6
    modify_downsample: bool = False    # the shared ConvNeXt tower's ERR-Seg-only HSM module: SED has none

    @property
    def decoder_guidance_dims(self) -> List[int]:
        """Appearance-guidance in-channels: res4, res3, res2 widths (the reversed feature list without res5)."""
        return list(reversed(self.trunk_dims[:3]))

    @property
    def corr_guidance_dims(self) -> List[int]:
        """In-channels of the three ConvTranspose corr-guidance stages: 80, then the previous projection width."""
        return [self.prompt_channels] + self.decoder_guidance_proj_dims[:2]

    @property
    def up_in_dims(self) -> List[int]:
        """Channel width entering decoder1/2/3."""
        return [self.hidden_dim] + self.decoder_dims[:2]

    def validate(self) -> None:
        assert len(self.trunk_dims) == 4 and len(self.trunk_depths) == 4
        assert self.visual_head in ("linear", "mlp")
        assert self.text_width % self.text_heads == 0
        for c in self.up_in_dims:
            assert c % self.num_heads == 0, "class attention splits channels into heads"
        for c in self.decoder_dims:
            assert c % 16 == 0, "DoubleConv uses GroupNorm(C // 16, C)"
        for cin, g in zip(self.up_in_dims, self.decoder_guidance_proj_dims):
            assert cin > g, "Up.up maps C -> C - guidance"
        assert self.clip_resolution % 32 == 0

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["decoder_guidance_dims"] = self.decoder_guidance_dims
        d["corr_guidance_dims"] = self.corr_guidance_dims
        d["up_in_dims"] = self.up_in_dims
        d["up_out_dims"] = [c - g for c, g in zip(self.up_in_dims, self.decoder_guidance_proj_dims)]
        d["double_conv_in_dims"] = [c + 2 * g for c, g in zip(self.up_in_dims, self.decoder_guidance_proj_dims)]
        d["group_norm_groups"] = [c // 16 for c in self.decoder_dims]
        d["attention_head_dims"] = [c // self.num_heads for c in self.up_in_dims]
        d["text_head_dim"] = self.text_width // self.text_heads
        d["dense_size"] = self.clip_resolution // 32
        d["output_size"] = self.clip_resolution // 4
        return json.dumps(d, indent=2)


def size_b() -> SEDConfig:
    return SEDConfig(name="b", trunk_dims=[128, 256, 512, 1024], trunk_depths=[3, 3, 27, 3], embed_dim=640,
                     visual_head="linear", text_width=640, text_heads=10, text_layers=12)


def size_l() -> SEDConfig:
    return SEDConfig(name="l", trunk_dims=[192, 384, 768, 1536], trunk_depths=[3, 3, 27, 3], embed_dim=768,
                     visual_head="mlp", text_width=768, text_heads=12, text_layers=16)


def tiny() -> SEDConfig:
    # Text tower 8 wide (2 heads of 4), as the ERR-Seg and EOV-Seg tiny goldens: the token embedding
    # (49408 x width, kept whole because the real token ids reach 49407) dominates the checkpoint, and at width 32
    # it alone is 3.2 MB in float16 next to 2.4 MB of full-width decoder weights.
    return SEDConfig(name="tiny", trunk_dims=[16, 32, 64, 128], trunk_depths=[1, 1, 2, 1], embed_dim=32,
                     visual_head="linear", text_width=8, text_heads=2, text_layers=2, clip_resolution=128)


def tiny_mlp() -> SEDConfig:
    """The tiny model with the L-style MLP visual head."""
    c = tiny()
    c.name = "tiny_mlp"
    c.visual_head = "mlp"
    return c


CONFIGS = {"b": size_b, "l": size_l, "tiny": tiny, "tiny_mlp": tiny_mlp}


def get_config(size: str) -> SEDConfig:
    if size not in CONFIGS:
        raise SystemExit(f"unknown size {size!r}; expected one of {sorted(CONFIGS)}")
    cfg = CONFIGS[size]()
    cfg.validate()
    return cfg
