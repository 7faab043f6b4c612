"""FireWorks' own LaunchPad on the embedded database (no MongoDB server).

:class:`EmbeddedLaunchPad` is :class:`fireworks.core.launchpad.LaunchPad` with one change: its
connection is an :class:`~crystaloop.stores.embedded_client.EmbeddedClient` on a folder instead of
a :class:`pymongo.MongoClient`. Everything else (adding workflows, reserving and running
Fireworks, ``detect_lostruns``, reruns) is FireWorks' code. The client's inter-process lock makes
the reservation of a Firework atomic, so two workers never run the same Firework.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fireworks.core.launchpad import LaunchPad
from fireworks.fw_config import STREAM_LOGLEVEL
from fireworks.utilities.fw_utilities import get_fw_logger

from crystaloop.stores.embedded_client import EmbeddedClient

EMBEDDED_SCHEME = "embedded://"


class EmbeddedLaunchPad(LaunchPad):
    """A FireWorks LaunchPad whose database is an embedded folder.

    Parameters
    ----------
    path
        Folder of the embedded server (shared with the stores; the LaunchPad uses its own
        database ``name`` in it).
    name
        Database name of the LaunchPad.
    logdir, strm_lvl, user_indices, wf_user_indices
        As for :class:`fireworks.core.launchpad.LaunchPad`.
    """

    def __init__(
        self,
        path: str | Path,
        name: str = "crystaloop_fireworks",
        logdir: str | None = None,
        strm_lvl: str | None = None,
        user_indices: list[Any] | None = None,
        wf_user_indices: list[Any] | None = None,
    ) -> None:
        # The same attributes LaunchPad.__init__ sets, with an embedded connection.
        self.path = str(Path(path).expanduser().resolve())
        self.host = EMBEDDED_SCHEME + self.path
        self.port = None
        self.name = name
        self.username = None
        self.password = None
        self.authsource = name
        self.mongoclient_kwargs: dict[str, Any] = {}
        self.uri_mode = False
        self.logdir = logdir
        self.strm_lvl = strm_lvl or STREAM_LOGLEVEL
        self.m_logger = get_fw_logger("launchpad", l_dir=self.logdir, stream_level=self.strm_lvl)
        self.user_indices = user_indices or []
        self.wf_user_indices = wf_user_indices or []
        self.connection = EmbeddedClient(self.path)
        self.db = self.connection[self.name]
        self.fireworks = self.db.fireworks
        self.launches = self.db.launches
        self.offline_runs = self.db.offline_runs
        self.fw_id_assigner = self.db.fw_id_assigner
        self.workflows = self.db.workflows
        # GridFS needs a real server; launches larger than 16 MB are refused instead.
        self.gridfs_fallback = None
        self.backup_launch_data: dict[Any, Any] = {}
        self.backup_fw_data: dict[Any, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        """Serialise as ``my_launchpad.yaml`` contents."""
        data = self.to_dict_for(self.path, self.name)
        data.update(logdir=self.logdir, strm_lvl=self.strm_lvl)
        data.update(user_indices=self.user_indices, wf_user_indices=self.wf_user_indices)
        return data

    @staticmethod
    def to_dict_for(path: str | Path, name: str) -> dict[str, Any]:
        """Return the ``my_launchpad.yaml`` contents for a folder and database name."""
        return {"embedded_path": str(Path(path).expanduser().resolve()), "name": name}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmbeddedLaunchPad:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            d["embedded_path"],
            name=d.get("name", "crystaloop_fireworks"),
            logdir=d.get("logdir"),
            strm_lvl=d.get("strm_lvl"),
            user_indices=d.get("user_indices"),
            wf_user_indices=d.get("wf_user_indices"),
        )
