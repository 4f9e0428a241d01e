"""EOV-Seg inference reference in PyTorch (written from ../shared/specs/eovseg.md)."""
from .config import EOVSegConfig, get_config  # noqa: F401
from .model import EOVSeg  # noqa: F401
