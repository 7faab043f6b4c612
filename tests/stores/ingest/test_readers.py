from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile

import pytest
from helpers import cif_of, nacl, perovskite

from crystaloop.stores.ingest import InputError, read_records


def _records(path):
    fmt, records = read_records(path)
    return fmt, list(records)


def test_cdvae_csv_with_mp20_header(tmp_path):
    import csv

    path = tmp_path / "mp20.csv"
    header = [
        "",
        "material_id",
        "formation_energy_per_atom",
        "band_gap",
        "pretty_formula",
        "e_above_hull",
        "elements",
        "cif",
        "spacegroup.number",
    ]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow(
            ["0", "mp-22862", "-2.1", "5.0", "NaCl", "0.0", "['Na','Cl']", cif_of(nacl()), "225"]
        )
    fmt, records = _records(path)
    assert fmt == "csv"
    (record,) = records
    assert record.source_id == "mp-22862"
    assert record.kind == "cif"
    assert record.properties == {
        "formation_energy_per_atom": -2.1,
        "band_gap": 5.0,
        "e_above_hull": 0.0,
    }


def test_shared_perov5_csv(shared_data):
    fmt, records = read_records(shared_data / "perov_5" / "val.csv")
    first = next(iter(records))
    assert fmt == "csv"
    assert set(first.properties) == {"heat_all", "heat_ref", "dir_gap", "ind_gap"}


def test_cif_folder_and_archives(tmp_path):
    folder = tmp_path / "cifs"
    (folder / "sub").mkdir(parents=True)
    (folder / "NaCl.cif").write_text(cif_of(nacl()))
    (folder / "sub" / "SrTiO3.cif").write_text(cif_of(perovskite()))
    (folder / "notes.txt").write_text("ignored")
    fmt, records = _records(folder)
    assert fmt == "cif-folder"
    assert sorted(r.source_id for r in records) == ["NaCl", "SrTiO3"]

    zpath = tmp_path / "cifs.zip"
    with zipfile.ZipFile(zpath, "w") as archive:
        archive.writestr("a/NaCl.cif", cif_of(nacl()))
    assert [r.source_id for r in _records(zpath)[1]] == ["NaCl"]

    tpath = tmp_path / "cifs.tar.gz"
    with tarfile.open(tpath, "w:gz") as archive:
        data = cif_of(perovskite()).encode()
        info = tarfile.TarInfo("SrTiO3.cif")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    fmt, records = _records(tpath)
    assert fmt == "cif-archive"
    assert [r.source_id for r in records] == ["SrTiO3"]


def test_structure_json_list_and_gzipped_json_lines(tmp_path):
    docs = [nacl().as_dict(), perovskite().as_dict()]
    path = tmp_path / "structures.json"
    path.write_text(json.dumps(docs))
    fmt, records = _records(path)
    assert fmt == "json"
    assert [r.kind for r in records] == ["structure", "structure"]
    assert [r.source_id for r in records] == [None, None]

    lines = tmp_path / "generated.jsonl.gz"
    with gzip.open(lines, "wt") as handle:
        for k, doc in enumerate(docs):
            handle.write(json.dumps({"source_id": f"x{k}", "sample": k, "structure": doc}) + "\n")
    fmt, records = _records(lines)
    assert fmt == "json"
    assert [r.source_id for r in records] == ["x0", "x1"]


def test_computed_structure_entries(tmp_path):
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    entry = ComputedStructureEntry(nacl(), energy=-27.0, entry_id="mp-22862")
    path = tmp_path / "entries.json"
    path.write_text(json.dumps([entry.as_dict()]))
    (record,) = _records(path)[1]
    assert record.source_id == "mp-22862"
    assert record.properties["energy"] == -27.0
    assert record.properties["energy_per_atom"] == pytest.approx(-27.0 / 8)


def test_matbench_layout(shared_data):
    fmt, records = read_records(shared_data / "matbench_dielectric" / "matbench_dielectric.json.gz")
    first = next(iter(records))
    assert fmt == "json"
    assert first.source_id == "0"
    assert "n" in first.properties and first.kind == "structure"


def test_anything_ase_reads(tmp_path):
    from pymatgen.io.vasp import Poscar

    path = tmp_path / "POSCAR"
    path.write_text(str(Poscar(nacl())))
    fmt, records = _records(path)
    assert fmt == "ase"
    assert records[0].kind == "atoms"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"   \n\n", "file is empty"),
        (b"\x89PNG\x00\xff\xfe\x00garbage\xff", "cannot read"),
        (b"just some words, no crystal", "unknown or unreadable format"),
        (b"a,b\n1,2\n", "no 'cif' column"),
    ],
)
def test_unreadable_inputs_raise_one_line_errors(tmp_path, content, message):
    path = tmp_path / ("bad.csv" if b"a,b" in content else "bad.dat")
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        _records(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_missing_and_oversized_paths(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_records(tmp_path / "nope.cif")
    path = tmp_path / "big.cif"
    path.write_text(cif_of(nacl()))
    with pytest.raises(InputError, match="cap"):
        read_records(path, max_bytes=10)
