"""SED inference reference in PyTorch (written from ../shared/specs/sliding-window-sed-mrovseg.md §1)."""
from .config import SEDConfig, get_config, size_b, size_l, tiny, tiny_mlp  # noqa: F401
from .model import SED, cer_survivors, postprocess, preprocess  # noqa: F401
