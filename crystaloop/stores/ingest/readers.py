"""Readers for crystal files: detect the format of a path and yield one raw record per crystal.

Formats, detected from the content and the name:

* ``csv``: CDVAE-style CSV (MP-20, Perov-5, Carbon-24) with a ``cif`` column, gzipped or not;
* ``cif-folder`` / ``cif-archive``: a folder, ``.zip`` or ``.tar[.gz]`` of ``.cif`` files;
* ``json``: pymatgen ``Structure`` or ``ComputedStructureEntry`` dicts as a JSON list or as JSON
  lines (gzipped or not), objects with a ``structure`` key (crystaloop's own output, MP-style
  documents), a single structure, and the Matbench column layouts (``{"structure": {row: ...},
  "n": {row: ...}}`` and pandas' ``split`` orientation);
* ``cif``: a single CIF file, possibly with several data blocks;
* ``ase``: anything else ASE can read (POSCAR, extxyz, ...).

Readers do no chemistry: parsing a CIF string and validating a structure happen later, record by
record, so one bad record never stops the others. A path that cannot be read at all raises
:class:`InputError` with a one-line reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crystaloop.stores.ingest.units import DESCRIPTIVE_COLUMNS

ID_KEYS = ("material_id", "source_id", "entry_id", "task_id", "mp_id", "id", "name")


class InputError(Exception):
    """A path cannot be read at all (missing, empty, unreadable, unknown format, too large)."""


@dataclass
class RawRecord:
    """One crystal as read from a file, before parsing and validation.

    Attributes
    ----------
    index
        Position of the record in its input (0-based).
    source_id
        The record's own id (``material_id``, file name, entry id); ``None`` when it has none,
        in which case the ingest names it by its index.
    kind
        ``"cif"`` (payload is CIF text), ``"structure"`` (a ``Structure.as_dict()``) or
        ``"atoms"`` (an ``ase.Atoms``).
    payload
        The crystal in the form ``kind`` names.
    properties
        Numeric labels found beside the crystal.
    """

    index: int
    source_id: str | None
    kind: str
    payload: Any
    properties: dict[str, float] = field(default_factory=dict)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def numeric_properties(row: dict[str, Any]) -> dict[str, float]:
    """Return the numeric, finite, non-descriptive values of a row as labels."""
    out: dict[str, float] = {}
    for key, value in row.items():
        if key is None or key in DESCRIPTIVE_COLUMNS or key.startswith("@"):
            continue
        number = _as_number(value)
        if number is not None:
            out[key] = number
    return out


def _record_id(row: dict[str, Any]) -> str | None:
    for key in ID_KEYS:
        value = row.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - returned to the caller


def _peek(path: Path, size: int = 4096) -> str:
    try:
        with _open_text(path) as handle:
            return handle.read(size)
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise InputError(f"{path}: cannot read: {err}") from err


def check_path(path: Path, max_bytes: int) -> None:
    """Raise :class:`InputError` when ``path`` is missing, unreadable, empty or too large."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        return
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from err
    if size == 0:
        raise InputError(f"{path}: file is empty")
    if size > max_bytes:
        raise InputError(f"{path}: file is {size} bytes, over the {max_bytes}-byte cap")


def detect_format(path: Path) -> str:
    """Return the format name of ``path`` (see the module docstring)."""
    name = path.name.lower()
    if path.is_dir():
        return "cif-folder"
    if name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "cif-archive"
    head = _peek(path).lstrip()
    if not head:
        raise InputError(f"{path}: file is empty")
    if head[0] in "[{":
        return "json"
    first_line = head.splitlines()[0] if head.splitlines() else ""
    columns = [c.strip().strip('"') for c in first_line.split(",")]
    if name.endswith((".csv", ".csv.gz")) or "cif" in columns:
        if "cif" not in columns:
            raise InputError(f"{path}: CSV has no 'cif' column (header: {first_line[:200]})")
        return "csv"
    if name.endswith((".cif", ".cif.gz")) or head.startswith("data_") or "\ndata_" in head:
        return "cif"
    return "ase"


def read_csv(path: Path) -> Iterator[RawRecord]:
    """Yield the records of a CDVAE-style CSV (one CIF per row in the ``cif`` column)."""
    csv.field_size_limit(sys.maxsize)
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        for index, row in enumerate(reader):
            yield RawRecord(
                index=index,
                source_id=_record_id(row),
                kind="cif",
                payload=row.get("cif") or "",
                properties=numeric_properties(row),
            )


def read_cif_file(path: Path) -> Iterator[RawRecord]:
    """Yield one record per data block of a CIF file."""
    with _open_text(path) as handle:
        text = handle.read()
    blocks = _split_cif_blocks(text)
    stem = path.name.split(".")[0]
    for index, block in enumerate(blocks):
        source_id = stem if len(blocks) == 1 else f"{stem}#{index}"
        yield RawRecord(index=index, source_id=source_id, kind="cif", payload=block)


def _split_cif_blocks(text: str) -> list[str]:
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.lstrip().lower().startswith("data_"):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    if not blocks:
        return [text]
    return ["\n".join(b) + "\n" for b in blocks]


def read_cif_folder(path: Path) -> Iterator[RawRecord]:
    """Yield one record per ``.cif`` file under a folder (recursively, in sorted order)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(".cif"))
    if not files:
        raise InputError(f"{path}: folder holds no .cif files")
    for index, file in enumerate(files):
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            yield RawRecord(index, file.stem, "error", f"cannot read {file.name}: {err}")
            continue
        yield RawRecord(index=index, source_id=file.stem, kind="cif", payload=text)


def read_cif_archive(path: Path) -> Iterator[RawRecord]:
    """Yield one record per ``.cif`` member of a zip or tar archive."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = sorted(n for n in archive.namelist() if n.lower().endswith(".cif"))
                if not names:
                    raise InputError(f"{path}: archive holds no .cif files")
                for index, name in enumerate(names):
                    text = archive.read(name).decode("utf-8", errors="replace")
                    yield RawRecord(index, Path(name).stem, "cif", text)
            return
        with tarfile.open(path) as archive:
            members = sorted(
                (m for m in archive.getmembers() if m.isfile() and m.name.lower().endswith(".cif")),
                key=lambda m: m.name,
            )
            if not members:
                raise InputError(f"{path}: archive holds no .cif files")
            for index, member in enumerate(members):
                handle = archive.extractfile(member)
                text = handle.read().decode("utf-8", errors="replace") if handle else ""
                yield RawRecord(index, Path(member.name).stem, "cif", text)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read archive: {err}") from err


def _load_json_documents(path: Path) -> list[Any]:
    with _open_text(path) as handle:
        text = handle.read()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            documents.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: line {number} is not JSON: {err.msg}") from err
    return documents


def _columns_to_rows(doc: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Turn the Matbench column layouts into rows; ``None`` when ``doc`` is not one of them."""
    if {"columns", "data"} <= doc.keys() and isinstance(doc["data"], list):
        index = doc.get("index") or list(range(len(doc["data"])))
        return [
            {"index": str(i), **dict(zip(doc["columns"], values, strict=False))}
            for i, values in zip(index, doc["data"], strict=False)
        ]
    structures = doc.get("structure")
    if isinstance(structures, dict) and structures and "@class" not in structures:
        if not all(isinstance(v, dict) for v in structures.values()):
            return None
        rows = []
        for key, structure in structures.items():
            row = {"index": str(key), "structure": structure}
            for column, values in doc.items():
                if column != "structure" and isinstance(values, dict):
                    row[column] = values.get(key)
            rows.append(row)
        return rows
    return None


def _json_item_to_record(index: int, item: Any) -> RawRecord:
    if not isinstance(item, dict):
        return RawRecord(index, None, "error", f"expected a JSON object, got {type(item).__name__}")
    cls = item.get("@class")
    if cls == "Structure" or ("lattice" in item and "sites" in item):
        props = item.get("properties") or {}
        return RawRecord(index, _record_id(props), "structure", item, numeric_properties(props))
    if cls in ("ComputedStructureEntry", "ComputedEntry") or "structure" in item:
        structure = item.get("structure")
        if structure is None:
            return RawRecord(index, _record_id(item), "error", "entry has no structure")
        properties = numeric_properties({**(item.get("data") or {}), **item})
        if cls == "ComputedStructureEntry" and "energy" in item:
            natoms = len(structure.get("sites", [])) or 1
            properties["energy_per_atom"] = float(item["energy"]) / natoms
        if "index" in item and _record_id(item) is None:
            return RawRecord(index, str(item["index"]), "structure", structure, properties)
        return RawRecord(index, _record_id(item), "structure", structure, properties)
    return RawRecord(index, _record_id(item), "error", "object has no structure")


def read_json(path: Path) -> Iterator[RawRecord]:
    """Yield the records of a JSON / JSON-lines file (see the module docstring)."""
    documents = _load_json_documents(path)
    items: list[Any] = []
    for doc in documents:
        rows = _columns_to_rows(doc) if isinstance(doc, dict) else None
        if rows is not None:
            items.extend(rows)
        elif isinstance(doc, list):
            items.extend(doc)
        else:
            items.append(doc)
    if not items:
        raise InputError(f"{path}: JSON holds no records")
    for index, item in enumerate(items):
        yield _json_item_to_record(index, item)


def read_ase(path: Path) -> Iterator[RawRecord]:
    """Yield one record per frame of any file ASE can read."""
    try:
        from ase.io import read

        frames = read(str(path), index=":")
    except Exception as err:  # ASE raises many types for unknown formats
        raise InputError(f"{path}: unknown or unreadable format ({type(err).__name__})") from err
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise InputError(f"{path}: no structures found")
    stem = path.name.split(".")[0]
    for index, atoms in enumerate(frames):
        source_id = stem if len(frames) == 1 else f"{stem}#{index}"
        yield RawRecord(index, source_id, "atoms", atoms, numeric_properties(atoms.info))


READERS = {
    "csv": read_csv,
    "cif": read_cif_file,
    "cif-folder": read_cif_folder,
    "cif-archive": read_cif_archive,
    "json": read_json,
    "ase": read_ase,
}


def read_records(
    path: str | Path, max_bytes: int = 4096 * 2**20
) -> tuple[str, Iterator[RawRecord]]:
    """Check ``path``, detect its format and return ``(format, records)``.

    Raises
    ------
    InputError
        When the path is missing, empty, unreadable, too large or of no known format.
    """
    path = Path(path)
    check_path(path, max_bytes)
    fmt = detect_format(path)
    return fmt, READERS[fmt](path)
