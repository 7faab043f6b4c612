"""The sample corpus shipped inside the package (see ``crystaloop/data/README.md``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_FILES = {
    "perov_5": "perov_5.csv.gz",
    "carbon_24": "carbon_24.csv.gz",
    "matbench_dielectric": "matbench_dielectric.json.gz",
}


def sample_corpus_files() -> dict[str, Path]:
    """Return ``{source name: path}`` of the bundled sample corpus files."""
    root = Path(str(resources.files("crystaloop") / "data"))
    return {source: root / name for source, name in SAMPLE_FILES.items()}
