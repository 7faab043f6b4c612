"""maggma stores for crystaloop's collections, on the embedded database or on MongoDB.

The same code path serves both profiles: :func:`open_store` returns an
:class:`~crystaloop.stores.embedded_store.EmbeddedStore` or a
:class:`~crystaloop.stores.mongo.SafeMongoStore` for a collection, connected, with the
collection's indexes created on first use.
"""

from __future__ import annotations

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


def open_store(settings: CrystaloopSettings, collection: str) -> Store:
    """Return the connected store of one collection (``corpus``, ``labels``, ...).

    Raises
    ------
    KeyError
        For a collection crystaloop does not know.
    ConnectionError
        When the database cannot be reached.
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
