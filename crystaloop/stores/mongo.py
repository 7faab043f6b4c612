"""maggma stores on a MongoDB server that never reveal the connection string."""

from __future__ import annotations

import re

from maggma.stores import GridFSStore, MongoStore

_CREDENTIALS = re.compile(r"//[^@/]*@")


def redact_uri(uri: str) -> str:
    """Return ``uri`` with any ``user:password@`` part replaced by ``***@``."""
    return _CREDENTIALS.sub("//***@", uri)


class SafeMongoStore(MongoStore):
    """:class:`maggma.stores.MongoStore` whose ``name`` hides credentials.

    maggma's own ``name`` returns the full URI, password included, and builders log it.
    """

    @property
    def name(self) -> str:
        """Return a string naming this data source, without credentials."""
        if self.uri is not None:
            return redact_uri(self.uri) + f"/{self.database}/{self.collection_name}"
        return f"mongo://{self.host}/{self.database}/{self.collection_name}"


class SafeGridFSStore(GridFSStore):
    """:class:`maggma.stores.GridFSStore` whose ``name`` hides credentials."""

    @property
    def name(self) -> str:
        """Return a string naming this data source, without credentials."""
        uri = getattr(self, "uri", None)
        if uri:
            return "gridfs:" + redact_uri(uri) + f"/{self.database}/{self.collection_name}"
        return f"gridfs://{self.host}/{self.database}/{self.collection_name}"
