"""Repository-relative locations: the repo root and ../shared (test data that is never copied into the repo)."""
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.environ.get("VOCASEG_SHARED", os.path.abspath(os.path.join(REPO, "..", "shared")))
GOLDENS_TINY = os.path.join(REPO, "Tests", "VocaSegModelsTests", "Goldens", "errseg_tiny")
