"""Labelled records from files: every invalid record named, with its reason, by the library."""

from __future__ import annotations

import csv

import pytest
from helpers import cif_of, nacl, perovskite

from crystaloop.stores.ingest import InputError
from crystaloop.stores.ingest.labelled import (
    InvalidRecordsError,
    check_records,
    invalid_records_message,
    iter_records,
    read_labelled,
)

LIMITS = {"max_sites": 500}


def write_csv(path, rows, header=("", "material_id", "cif", "heat_ref")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, row in enumerate(rows):
            writer.writerow([i, *row])
    return path


def test_valid_records_come_with_their_labels_and_bad_ones_with_a_reason(tmp_path):
    path = write_csv(
        tmp_path / "data.csv",
        [
            ("ok", cif_of(perovskite()), "0.5"),
            ("broken", "data_x\n_cell_length_a 3\n", "1.0"),
            ("ok", cif_of(nacl()), "2.0"),
            ("salt", cif_of(nacl()), ""),
        ],
    )
    items, errors = read_labelled(path, **LIMITS)
    assert [(sid, labels) for sid, _, labels in items] == [("ok", {"heat_ref": 0.5}), ("salt", {})]
    assert [e["source_id"] for e in errors] == ["broken", "ok"]
    assert errors[0]["reason"].startswith("cannot parse structure")
    assert errors[1]["reason"] == "duplicate id 'ok' in this input"
    with pytest.raises(InvalidRecordsError) as caught:
        check_records(errors, str(path))
    message = str(caught.value)
    assert message.startswith(f"2 invalid record(s) in {path}: record 'broken': cannot parse")
    assert message.endswith("; record 'ok': duplicate id 'ok' in this input")
    assert isinstance(caught.value, ValueError) and caught.value.errors == errors
    check_records([], str(path))  # nothing to say: no error


def test_the_message_lists_five_records_and_counts_the_rest():
    errors = [{"source_id": f"r{i}", "reason": "bad"} for i in range(7)]
    message = invalid_records_message(errors, "x.csv")
    assert message.startswith("7 invalid record(s) in x.csv: record 'r0': bad; ")
    assert "record 'r4': bad (and 2 more)" in message and "'r5'" not in message


def test_a_site_limit_makes_a_large_structure_an_invalid_record(tmp_path):
    path = write_csv(tmp_path / "data.csv", [("big", cif_of(perovskite() * 2), "")])
    _, errors = read_labelled(path, max_sites=10)
    assert errors[0]["source_id"] == "big" and "40" in errors[0]["reason"]


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no records"), ("", "empty"), ("\x00\x01\xff" * 64, "data.csv")]
)
def test_an_input_without_records_raises_the_ingest_error(tmp_path, content, message):
    path = tmp_path / "data.csv"
    if content is None:
        write_csv(path, [])
    else:
        path.write_text(content)
    with pytest.raises(InputError, match=message):
        list(iter_records(path, **LIMITS))
    with pytest.raises(InputError):
        read_labelled(tmp_path / "missing.csv", **LIMITS)


def test_a_byte_limit_refuses_a_large_file(tmp_path):
    path = write_csv(tmp_path / "data.csv", [("ok", cif_of(perovskite()), "0.5")])
    with pytest.raises(InputError):
        read_labelled(path, max_sites=500, max_bytes=10)
