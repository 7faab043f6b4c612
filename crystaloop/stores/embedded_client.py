"""The embedded database: a pymongo-compatible client on SQLite files, safe across processes.

The embedded profile needs a MongoDB stand-in that (1) keeps every committed write when a process
is killed, (2) lets several processes (``crystaloop worker`` instances, the CLI) share one database
without two of them reserving the same Firework, and (3) speaks enough of the pymongo API for
FireWorks' LaunchPad, maggma and jobflow. ``benchmarks/embedded_backends.py`` measures the
candidates; the choice is litemongo (mongomock's query engine over one SQLite file per
collection, one transaction per write, WAL journal) with two additions made here:

* **an inter-process write lock**: every collection method that writes (and the read-modify-write
  ``find_one_and_*`` family that FireWorks uses to reserve Fireworks and assign ids) runs under an
  exclusive ``flock`` on ``<database folder>/.write.lock``; so the read and the write of a
  ``find_one_and_update`` cannot interleave with another process's;
* **thread safety**: FireWorks pings a running launch from a background thread, so the SQLite
  connections are opened with ``check_same_thread=False`` and every collection operation and
  cursor evaluation is serialised by a process-wide re-entrant lock.

Documented limits: one machine (``flock`` needs a local or lock-capable file system); every query
is evaluated in Python by mongomock with hash indexes on equality and ``$in`` conditions, so range
queries scan the collection (sorted queries sort per-document keys kept in memory, see
:mod:`crystaloop.stores.embedded_speed`); a change made by another process invalidates this
process's in-memory indexes, which are rebuilt on the next query (cost grows with collection
size). Use the MongoDB profile beyond a few hundred thousand documents or for workers on several
nodes.
"""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import litemongo
from litemongo import sqlite_store
from litemongo._vendor.mongomock import collection as _mm_collection

from crystaloop.stores.embedded_speed import install_fast_paths

LOCK_FILENAME = ".write.lock"

_WRITE_METHODS = (
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
    "bulk_write",
    "create_index",
    "create_indexes",
    "drop_index",
    "drop_indexes",
    "drop",
    "rename",
)
_READ_METHODS = (
    "find_one",
    "count_documents",
    "estimated_document_count",
    "distinct",
    "aggregate",
    "index_information",
    "list_indexes",
)

_THREAD_LOCK = threading.RLock()
_FILE_LOCKS: dict[Path, _InterProcessLock] = {}
_INSTALLED = False


class _InterProcessLock:
    """An exclusive, re-entrant lock shared by the threads of this process and other processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        with _THREAD_LOCK:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None


def database_lock(database_dir: Path) -> _InterProcessLock:
    """Return the inter-process write lock of one embedded database folder."""
    path = (Path(database_dir) / LOCK_FILENAME).resolve()
    if path not in _FILE_LOCKS:
        _FILE_LOCKS[path] = _InterProcessLock(path)
    return _FILE_LOCKS[path]


def _lock_of(collection: Any) -> _InterProcessLock | None:
    # The database folder, found without touching ``collection._store``: that property opens
    # (and on first use creates) the collection's SQLite file, which must happen under the lock.
    db_store = getattr(collection, "_db_store", None)
    path = getattr(db_store, "_dirpath", None)
    return None if path is None else database_lock(Path(path))


def _locked_write(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _THREAD_LOCK:
            lock = _lock_of(self)
            if lock is None:
                return method(self, *args, **kwargs)
            with lock.hold():
                return method(self, *args, **kwargs)

    wrapper.__crystaloop_locked__ = True  # type: ignore[attr-defined]
    return wrapper


def _locked_read(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _THREAD_LOCK:
            return method(self, *args, **kwargs)

    wrapper.__crystaloop_locked__ = True  # type: ignore[attr-defined]
    return wrapper


def _locked_collection_open(method: Callable[..., Any]) -> Callable[..., Any]:
    """Open (and create on first use) a collection's SQLite file under the database lock."""

    @functools.wraps(method)
    def wrapper(self: Any, name: str) -> Any:
        with _THREAD_LOCK:
            if name in self._collections:
                return self._collections[name]
            with database_lock(Path(self._dirpath)).hold():
                return method(self, name)

    return wrapper


class _SharedThreadSqlite:
    """The ``sqlite3`` module as litemongo sees it: connections usable from any thread."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("check_same_thread", False)
        kwargs.setdefault("timeout", 60.0)
        return sqlite3.connect(*args, **kwargs)


def install_locks() -> None:
    """Wrap litemongo's collection and cursor methods with the locks (once per process).

    litemongo carries a private copy of mongomock, so these wrappers affect litemongo clients
    only, never the ``mongomock`` package that maggma's ``MemoryStore`` or FireWorks use.
    """
    global _INSTALLED
    if _INSTALLED:
        return
    with _THREAD_LOCK:
        if _INSTALLED:
            return
        install_fast_paths()  # before the locks wrap the same methods
        coll_cls = _mm_collection.Collection
        for name in _WRITE_METHODS:
            method = getattr(coll_cls, name, None)
            if method is not None and not getattr(method, "__crystaloop_locked__", False):
                setattr(coll_cls, name, _locked_write(method))
        for name in _READ_METHODS:
            method = getattr(coll_cls, name, None)
            if method is not None and not getattr(method, "__crystaloop_locked__", False):
                setattr(coll_cls, name, _locked_read(method))
        cursor_cls = _mm_collection.Cursor
        cursor_cls._compute_results = _locked_read(cursor_cls._compute_results)
        db_cls = sqlite_store.DatabaseStore
        db_cls.__getitem__ = _locked_collection_open(db_cls.__getitem__)
        sqlite_store.sqlite3 = _SharedThreadSqlite()  # type: ignore[assignment]
        _INSTALLED = True


class EmbeddedClient(litemongo.MongoClient):
    """A pymongo-style ``MongoClient`` on a folder of SQLite files.

    Parameters
    ----------
    path
        Folder of the server: each database is a sub-folder, each collection a SQLite file.
    **kwargs
        Ignored connection keywords (``socketTimeoutMS`` and the like), accepted so that code
        written for :class:`pymongo.MongoClient` can construct this one.
    """

    def __init__(self, path: str | os.PathLike[str], **kwargs: Any) -> None:
        install_locks()
        self.path = Path(path).expanduser().resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        super().__init__(str(self.path))

    def __repr__(self) -> str:
        return f"EmbeddedClient({str(self.path)!r})"
