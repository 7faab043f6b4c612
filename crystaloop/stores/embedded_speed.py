"""Fast paths in the embedded database's query engine (litemongo's private copy of mongomock).

Profiling a 1,000-Firework workflow run through the embedded LaunchPad
(``benchmarks/orchestration.py``) showed the time going to work whose result is thrown away:

1. ``find_one`` built the *whole* result list of its query -- every matching document decoded,
   filtered, sorted and deep-copied -- to return the first (FireWorks reserves a Firework with
   ``find_one_and_update(..., sort=...)`` over every READY Firework, twice per launch);
2. a cursor with a ``limit`` did the same before slicing;
3. every document handed out was deep-copied by mongomock's recursive ``_copy_field``, although
   litemongo's SQLite store decodes a new document from the file for each read, so nobody else
   holds it (the workflow document of a 2,000-Firework workflow, read several times per launch,
   took most of the copying), and every update deep-copied its document with ``copy.deepcopy``;
4. a sorted query decoded and filtered every candidate before sorting them, although the
   consumer (a ``find_one``) wanted the first match only;
5. every write re-keyed the whole document in every hash index (the workflow document's
   ``nodes`` list: one key per Firework) and rebuilt every incoming document to normalise its
   datetimes.

:func:`install_fast_paths` changes these and nothing else: ``find_one`` asks for one document as
pymongo's does (``limit(-1)``); a limited cursor takes ``skip + limit`` documents from the sorted
stream; whole documents from a litemongo SQLite collection are returned as decoded; documents made
of dicts, lists and immutable BSON values are deep-copied through BSON (encode, decode, and used
only when the copy compares equal, so a tuple or a value BSON would change falls back) or by a
plain recursive copy (anything else by ``copy.deepcopy``); a rewritten document's index keys are
updated only where they changed; datetimes are normalised by a walk that dispatches on exact types
(mongomock's own function for anything else); and a sorted query on a litemongo SQLite collection
sorts the index's candidates by sort keys kept per document (dropped when the document is written,
all dropped when another connection changes the file), then decodes and filters them lazily in that
order. Query results are unchanged (``tests/stores/test_embedded_speed.py``). Other stores,
projected documents and time-zone-aware clients keep mongomock's behaviour.
"""

from __future__ import annotations

import copy
import datetime
import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import bson
from bson import ObjectId
from litemongo import sqlite_store
from litemongo._vendor.mongomock import collection as _mm_collection
from litemongo._vendor.mongomock import filtering as _mm_filtering
from litemongo._vendor.mongomock import helpers as _mm_helpers
from litemongo._vendor.mongomock import indexing as _mm_indexing

_INSTALLED = False
#: Leaves a deep copy may share: immutable values a BSON document holds.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, datetime.datetime, ObjectId})
#: Values mongomock's datetime normalisation returns unchanged.
_NOT_DATETIME = _IMMUTABLE - {datetime.datetime}
#: A sorted query over more candidates than this keeps mongomock's path (no sort-key cache).
MAX_CACHED_SORT = 200_000
#: Documents decoded per read while a sorted query is consumed.
_SORTED_CHUNK = 16


def _whole_document(fields: Any) -> bool:
    """Return True when a projection ``fields`` asks for the whole document (mongomock's rule)."""
    return fields is None or (not fields and _mm_helpers.PYMONGO_AT_LEAST_4_0)


def _uncopied(original: Callable[..., Any]) -> Callable[..., Any]:
    def _copy_only_fields(self: Any, doc: Any, fields: Any, container: Any) -> Any:
        if (
            container is dict
            and type(doc) is dict
            and _whole_document(fields)
            and isinstance(getattr(self, "_db_store", None), sqlite_store.DatabaseStore)
        ):
            return doc  # decoded from the file for this read alone
        return original(self, doc, fields, container)

    return _copy_only_fields


def _find_one(self: Any, filter: Any = None, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
    """``Collection.find_one``: the first match of ``find(filter, ...)``, built alone."""
    if filter is None:
        filter = {}  # noqa: A001
    if not isinstance(filter, Mapping):
        filter = {"_id": filter}  # noqa: A001
    if len(args) < 3 and "limit" not in kwargs:  # find(filter, projection, skip, limit, ...)
        kwargs["limit"] = -1
    try:
        return next(self.find(filter, *args, **kwargs))
    except StopIteration:
        return None


def _limited(original: Callable[..., Any]) -> Callable[..., Any]:
    def _compute_results(self: Any, with_limit_and_skip: bool = False) -> Any:
        if not with_limit_and_skip or not self._limit or self.collection.codec_options.tz_aware:
            return original(self, with_limit_and_skip)
        key = (self._factory, self._skip, self._limit)
        cached = getattr(self, "_crystaloop_limited", None)
        if cached is not None and cached[0] == key:
            return cached[1]  # a cursor being iterated keeps the list it started on
        if self._results and self._factory_last_generated_results == self._factory:
            return original(self, with_limit_and_skip)  # the full list is there already
        stop = self._skip + abs(self._limit)
        results = list(itertools.islice(self._factory(), self._skip, stop))
        self._crystaloop_limited = (key, results)
        return results

    return _compute_results


def _bson_copy(doc: dict) -> dict | None:
    """Return a copy of ``doc`` through BSON, or ``None`` when BSON would not give it back equal."""
    try:
        copied = bson.decode(bson.encode(doc))
    except Exception:  # a type or key BSON refuses: the caller copies another way
        return None
    return copied if copied == doc else None


def document_deepcopy(obj: Any, memo: dict[int, Any] | None = None) -> Any:
    """Deep-copy a document of dicts, lists and immutable values; ``copy.deepcopy`` otherwise."""
    kind = type(obj)
    if kind is dict and memo is None:
        copied = _bson_copy(obj)
        if copied is not None:
            return copied
        return _plain_deepcopy(obj)
    return _plain_deepcopy(obj, memo)


def _plain_deepcopy(obj: Any, memo: dict[int, Any] | None = None) -> Any:
    kind = type(obj)
    if kind is dict:
        return {k: _plain_deepcopy(v) for k, v in obj.items()}
    if kind is list:
        return [_plain_deepcopy(v) for v in obj]
    if kind in _IMMUTABLE:
        return obj
    return copy.deepcopy(obj, memo)


class _CopyModule:
    """The ``copy`` module as mongomock's collection code sees it: a faster ``deepcopy``."""

    deepcopy = staticmethod(document_deepcopy)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _datetimes_patched(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def patch(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            return {k: patch(v) for k, v in value.items()}
        if kind is list or kind is tuple:
            return [patch(v) for v in value]
        if kind in _NOT_DATETIME:
            return value
        return original(value)

    return patch


def _incremental_index_add(original: Callable[..., Any]) -> Callable[..., Any]:
    def add(self: Any, store_key: Any, doc: dict) -> None:
        if store_key not in self._docs:
            return original(self, store_key, doc)
        for index in self._fields.values():
            keys = _mm_indexing._doc_keys(doc, index.path)
            if index._doc_keys.get(store_key, _MISSING) == keys:
                continue  # unchanged in this index
            index.remove(store_key)
            index.add(store_key, doc)
        return None

    return add


_MISSING = object()


def _sort_keys_of(store: Any, sort: tuple[str, ...]) -> dict[Any, tuple]:
    """Return the store's cache of per-document sort keys for ``sort`` (fields in order)."""
    index = store._get_query_index()  # rebuilt (a new object) when another connection wrote
    cache = getattr(store, "_crystaloop_sort_keys", None)
    if cache is None or cache[0] is not index:
        cache = (index, {})
        store._crystaloop_sort_keys = cache
    return cache[1].setdefault(sort, {})


def _forget_sort_keys(store: Any, key: Any) -> None:
    cache = getattr(store, "_crystaloop_sort_keys", None)
    if cache:
        encoded = store._index_key(key)
        for keys in cache[1].values():
            keys.pop(encoded, None)


def _with_stored_keys(store: Any, keys: list[Any]) -> Iterator[tuple[Any, dict]]:
    """Yield ``(stored key, document)`` for the stored keys ``keys`` (missing ones skipped).

    The key comes from the file, not re-encoded from the decoded ``_id`` (an embedded-document
    or regex ``_id`` decodes to another type than it was stored from).
    """
    table = store._documents
    with store._rwlock.reader():
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = table._connection.execute(
                f"SELECT {table.ID}, {table.DOC} FROM {table._table_name} "  # noqa: S608
                f"WHERE {table.ID} IN ({marks})",
                chunk,
            ).fetchall()
            found = dict(rows)
            for key in chunk:
                if key in found:
                    yield key, table._decode_doc(found[key])


def _sorted_keys(store: Any, spec: Any, sort: list[tuple[str, int]]) -> list[Any]:
    """Return the stored keys of the candidates of ``spec`` in ``sort`` order (ties natural).

    Raises what mongomock's sort keys raise (the caller then takes mongomock's path).
    """
    fields = tuple(name for name, _ in sort)
    store._remove_expired_documents()
    by_key = _sort_keys_of(store, fields)
    index = store._query_index
    keys = index.candidates(spec)
    ordered = index.in_natural_order(index._docs if keys is None else keys)
    missing = [k for k in ordered if k not in by_key]
    for key, doc in _with_stored_keys(store, missing):
        by_key[key] = tuple(_mm_filtering.resolve_sort_key(name, doc) for name in fields)
    ordered = [k for k in ordered if k in by_key]
    for position in reversed(range(len(sort))):  # stable sorts, last key first, as mongomock
        ordered.sort(key=lambda k: by_key[k][position], reverse=sort[position][1] < 0)
    return ordered


def _matches_in_order(store: Any, spec: Any, ordered: list[Any]) -> Iterator[dict]:
    """Yield the documents of ``ordered`` (stored keys) that match ``spec``, decoded lazily."""
    for start in range(0, len(ordered), _SORTED_CHUNK):
        for _, doc in _with_stored_keys(store, ordered[start : start + _SORTED_CHUNK]):
            if _mm_filtering.filter_applies(spec, doc):
                yield doc


def _sorted_fast(original: Callable[..., Any]) -> Callable[..., Any]:
    def _get_dataset(self: Any, spec: Any, sort: Any, fields: Any, as_class: Any) -> Any:
        if isinstance(sort, dict):
            sort = list(sort.items())
        if (
            not sort
            or any(name.startswith("$") for name, _ in sort)
            or not isinstance(getattr(self, "_db_store", None), sqlite_store.DatabaseStore)
        ):
            return original(self, spec, sort, fields, as_class)
        store = self._store
        if store.is_empty or len(store._get_query_index()._docs) > MAX_CACHED_SORT:
            return original(self, spec, sort, fields, as_class)
        try:
            ordered = _sorted_keys(store, spec, list(sort))
        except Exception:  # a value mongomock cannot order: its own path decides (and raises)
            return original(self, spec, sort, fields, as_class)
        return (
            self._copy_only_fields(doc, fields, as_class)
            for doc in _matches_in_order(store, spec, ordered)
        )

    return _get_dataset


def _forgetting(original: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, key: Any, *args: Any) -> Any:
        _forget_sort_keys(self, key)
        return original(self, key, *args)

    return method


def install_fast_paths() -> None:
    """Install the fast paths in litemongo's mongomock (once per process).

    Call it before the embedded client's locks wrap the same methods
    (:func:`crystaloop.stores.embedded_client.install_locks` does).
    """
    global _INSTALLED
    if _INSTALLED:
        return
    _mm_collection.copy = _CopyModule()  # type: ignore[assignment]
    _mm_helpers.patch_datetime_awareness_in_document = _datetimes_patched(
        _mm_helpers.patch_datetime_awareness_in_document
    )
    indexes_cls = _mm_indexing.CollectionIndexes
    indexes_cls.add = _incremental_index_add(indexes_cls.add)
    coll_cls = _mm_collection.Collection
    coll_cls._copy_only_fields = _uncopied(coll_cls._copy_only_fields)
    coll_cls._get_dataset = _sorted_fast(coll_cls._get_dataset)
    coll_cls.find_one = _find_one
    store_cls = sqlite_store.CollectionStore
    store_cls.__setitem__ = _forgetting(store_cls.__setitem__)
    store_cls.__delitem__ = _forgetting(store_cls.__delitem__)
    cursor_cls = _mm_collection.Cursor
    cursor_cls._compute_results = _limited(cursor_cls._compute_results)
    _INSTALLED = True
