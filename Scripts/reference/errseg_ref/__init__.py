"""ERR-Seg inference reference in PyTorch (written from ../shared/specs/errseg.md)."""
from .config import ErrSegConfig, get_config, full_b, full_l, tiny  # noqa: F401
from .model import ErrSeg, crm_scores, select_classes  # noqa: F401
