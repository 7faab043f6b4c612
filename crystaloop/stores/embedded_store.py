"""A maggma ``Store`` on the embedded database (see :mod:`crystaloop.stores.embedded_client`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maggma.stores import MongoStore

from crystaloop.stores.embedded_client import EmbeddedClient


class EmbeddedStore(MongoStore):
    """A :class:`maggma.stores.MongoStore` whose collection lives in an embedded database folder.

    It is MSONable (so a jobflow ``JOB_STORE`` can name it in a YAML file) and behaves like a
    ``MongoStore`` in every other respect: queries, ``update`` with upserts, ``ensure_index``,
    ``distinct``, ``count`` and ``groupby``.

    Parameters
    ----------
    path
        Folder of the embedded server (the ``db`` folder under ``CRYSTALOOP_HOME``).
    database
        Database name (a sub-folder of ``path``).
    collection_name
        Collection name (a SQLite file in the database folder).
    **kwargs
        Passed on to :class:`maggma.stores.Store` (``key``, ``last_updated_field``, ...).
    """

    def __init__(
        self,
        path: str,
        database: str,
        collection_name: str,
        **kwargs: Any,
    ) -> None:
        self.path = str(Path(path).expanduser())
        super().__init__(database=database, collection_name=collection_name, **kwargs)

    @property
    def name(self) -> str:
        """Return a string naming this data source."""
        return f"embedded://{self.path}/{self.database}/{self.collection_name}"

    def connect(self, force_reset: bool = False) -> None:
        """Open the collection (a no-op when already open, unless ``force_reset``)."""
        if self._coll is None or force_reset:
            client = EmbeddedClient(self.path)
            self._coll = client[self.database][self.collection_name]

    def close(self) -> None:
        """Close the collection's SQLite files."""
        if self._coll is not None:
            self._coll.database.client.close()
        self._coll = None

    def __hash__(self) -> int:
        return hash((self.name, self.last_updated_field))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EmbeddedStore):
            return False
        fields = ["path", "database", "collection_name", "key", "last_updated_field"]
        return all(getattr(self, f) == getattr(other, f) for f in fields)
