"""maggma stores for crystaloop's collections, on the embedded database or on MongoDB.

The same code path serves both profiles: :func:`open_store` returns an
:class:`~crystaloop.stores.embedded_store.EmbeddedStore` or a
:class:`~crystaloop.stores.mongo.SafeMongoStore` for a collection, connected, with the
collection's indexes created on first use.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from crystaloop.settings import CrystaloopSettings

if TYPE_CHECKING:
    from maggma.core import Store

#: Collections: key field and the fields indexed on first use.
COLLECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "corpus": (
        "material_id",
        (
            "formula",
            "chemsys",
            "elements",
            "nelements",
            "nsites",
            "spacegroup_number",
            "fingerprint",
            "source",
        ),
    ),
    "corpus_aliases": ("alias_id", ("material_id",)),
    "hull_entries": ("hull_id", ("entry_id", "material_id", "chemsys", "source")),
    "candidates": ("candidate_id", ("campaign", "iteration", "formula", "fingerprint", "status")),
    "labels": ("label_id", ("subject_id", "campaign", "oracle", "iteration", "chemsys", "kind")),
    "models": ("model_id", ("name", "kind", "campaign")),
    "campaigns": ("campaign", ("state",)),
}


def _make_store(settings: CrystaloopSettings, collection: str, key: str) -> Store:
    if settings.backend == "embedded":
        from crystaloop.stores.embedded_store import EmbeddedStore

        return EmbeddedStore(str(settings.embedded_dir), settings.database, collection, key=key)
    from crystaloop.stores.mongo import SafeMongoStore

    return SafeMongoStore(
        settings.database,
        collection,
        uri=settings.require_mongo_uri(),
        key=key,
        mongoclient_kwargs={"serverSelectionTimeoutMS": 5000},
    )


#: Packages whose ValueErrors describe a database that cannot be opened (see :func:`cannot_open`).
_CLIENT_PACKAGES = ("pymongo", "litemongo")


def _raised_in(err: BaseException) -> str:
    """Return the module name of the innermost frame of ``err``'s traceback ("" when none)."""
    tb = err.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", ""))


def cannot_open(err: BaseException) -> bool:
    """Return True when ``err`` means "this database cannot be reached or opened".

    - MongoDB: pymongo's ``PyMongoError`` family (``ServerSelectionTimeoutError``,
      ``ConfigurationError`` for a bad URI, ``OperationFailure`` for refused credentials, ...);
    - embedded (litemongo on SQLite files): ``sqlite3.Error`` (``database is locked``, ``file is
      not a database``, ``unable to open database file``), ``OSError`` (a folder that cannot be
      created, a file where the folder should be, the ``flock`` of the write lock) and
      litemongo's own errors, which are pymongo's classes;
    - a ``ValueError`` raised inside pymongo or litemongo themselves: pymongo's URI parser
      (``Port must be an integer between 0 and 65535``) and litemongo's ``Path exists but is not
      a directory`` for a database folder that is a file.

    Anything else (a TypeError, AttributeError, KeyError or ValueError from crystaloop's own
    code, ...) is a bug, not an unreachable database.
    """
    from pymongo.errors import PyMongoError

    if isinstance(err, (PyMongoError, OSError, sqlite3.Error)):
        return True
    return isinstance(err, ValueError) and _raised_in(err).startswith(_CLIENT_PACKAGES)


def open_store(settings: CrystaloopSettings, collection: str) -> Store:
    """Return the connected store of one collection (``corpus``, ``labels``, ...).

    Only the errors that mean the database cannot be reached or opened become a
    ``ConnectionError`` (see :func:`cannot_open`); any other exception (a TypeError from a
    bug, ...) propagates unchanged.

    Raises
    ------
    KeyError
        For a collection crystaloop does not know.
    ConnectionError
        When the database cannot be reached or opened; the message names the store (without
        credentials) and the underlying error, which is chained as its cause.
    """
    if collection not in COLLECTIONS:
        raise KeyError(f"unknown collection {collection!r}; known: {', '.join(COLLECTIONS)}")
    key, indexed = COLLECTIONS[collection]
    store = _make_store(settings, collection, key)
    try:
        store.connect()
        store.ensure_index(key, unique=True)
        for field in indexed:
            store.ensure_index(field)
    except Exception as err:
        if not cannot_open(err):
            raise
        where = store.name
        raise ConnectionError(f"cannot open store {where}: {type(err).__name__}: {err}") from err
    return store


def mongo_client(settings: CrystaloopSettings) -> Any:
    """Return a pymongo ``MongoClient`` for the profile: MongoDB's, or the embedded twin.

    For querying by hand: ``mongo_client(settings)[settings.database]`` holds the stores and
    ``[settings.launchpad_database]`` the LaunchPad's collections. The credentials stay in the
    client; nothing is logged.
    """
    if settings.backend == "embedded":
        from crystaloop.stores.embedded_client import EmbeddedClient

        return EmbeddedClient(settings.embedded_dir)
    from pymongo import MongoClient

    return MongoClient(settings.require_mongo_uri(), serverSelectionTimeoutMS=5000)
