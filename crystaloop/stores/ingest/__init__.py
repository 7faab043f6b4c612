"""Corpus ingest: read crystal files of many formats, validate each record, store the good ones."""

from __future__ import annotations

from crystaloop.stores.ingest.readers import InputError, RawRecord, detect_format, read_records

__all__ = ["InputError", "RawRecord", "detect_format", "read_records"]
