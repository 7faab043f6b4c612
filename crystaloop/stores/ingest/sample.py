"""The sample corpus shipped inside the package (see ``crystaloop/data/README.md``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

SAMPLE_FILES = {
    "perov_5": "perov_5.csv.gz",
    "carbon_24": "carbon_24.csv.gz",
    "matbench_dielectric": "matbench_dielectric.json.gz",
}


def sample_corpus_files() -> dict[str, Path]:
    """Return ``{source name: path}`` of the bundled sample corpus files."""
    root = Path(str(resources.files("crystaloop") / "data"))
    return {source: root / name for source, name in SAMPLE_FILES.items()}


def ingest_sample_corpus(settings: Any, workers: int = 1) -> dict[str, dict[str, Any]]:
    """Ingest the bundled sample corpus into the settings' corpus store if it is empty.

    Returns ``{source: summary}`` of what was read, stored, merged as duplicates and rejected
    (nothing when the corpus already holds structures).
    """
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import PrepareOptions

    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    if corpus.count() > 0:
        return {}
    out = {}
    for source, path in sample_corpus_files().items():
        _, records = read_records(path, max_bytes=settings.max_file_mb * 2**20)
        options = PrepareOptions(source=source, file=str(path), max_sites=settings.max_sites)
        out[source] = corpus.ingest(records, options, workers=workers).as_dict()
    return out
