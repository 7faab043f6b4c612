"""LaunchPad from settings, and the configuration files ``crystaloop init`` writes.

Files written under ``CRYSTALOOP_HOME`` (mode 0600, as they may hold a connection string):

* ``settings.yaml``: :class:`~crystaloop.settings.CrystaloopSettings`;
* ``my_launchpad.yaml``: the LaunchPad (``embedded_path`` for the embedded profile, a MongoDB URI
  in ``uri_mode`` for the MongoDB profile, which plain ``lpad -l`` and ``rlaunch -l`` read);
* ``my_fworker_<category>.yaml``: one FWorker per worker category (``gpu``, ``cpu``, ...), whose
  ``category`` makes ``rlaunch -w`` pull only the Fireworks of that category;
* ``jobflow.yaml``: ``JOB_STORE`` for ``JOBFLOW_CONFIG_FILE``;
* ``FW_config.yaml``: FireWorks' workflow-lock expiry (``FW_CONFIG_FILE``, :func:`fw_config`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from fireworks.core.fworker import FWorker
from fireworks.core.launchpad import LaunchPad

from crystaloop.launchpad.embedded import EmbeddedLaunchPad
from crystaloop.settings import CrystaloopSettings
from crystaloop.stores.jobstore import jobflow_config


def get_launchpad(settings: CrystaloopSettings, strm_lvl: str = "ERROR") -> LaunchPad:
    """Return the LaunchPad of the configured profile (FireWorks' own class or its embedded twin).

    Raises
    ------
    ConnectionError
        When a MongoDB LaunchPad cannot be reached.
    """
    if settings.backend == "embedded":
        return EmbeddedLaunchPad(
            settings.embedded_dir, name=settings.launchpad_database, strm_lvl=strm_lvl
        )
    launchpad = LaunchPad(
        host=settings.require_mongo_uri(),
        name=settings.launchpad_database,
        uri_mode=True,
        strm_lvl=strm_lvl,
        mongoclient_kwargs={"serverSelectionTimeoutMS": 5000},
    )
    try:
        launchpad.connection.admin.command("ping")
    except Exception as err:
        raise ConnectionError(f"cannot reach the LaunchPad database: {type(err).__name__}") from err
    return launchpad


def initialize_launchpad(settings: CrystaloopSettings) -> bool:
    """Reset the LaunchPad database if it was never initialised; never wipe an existing one.

    The JobStore's output indexes are created either way (idempotent), so homes made before
    they existed get them.

    Returns
    -------
    bool
        True when the database was initialised now.
    """
    from crystaloop.stores.jobstore import ensure_output_indexes

    launchpad = get_launchpad(settings)  # a MongoDB server that cannot be reached fails here
    ensure_output_indexes(settings)
    if launchpad.fw_id_assigner.count_documents({}) > 0:
        return False
    launchpad.reset("", require_password=False)
    return True


def launchpad_from_file(path: str | os.PathLike[str]) -> LaunchPad:
    """Load a ``my_launchpad.yaml`` written by ``crystaloop init`` (either profile)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if "embedded_path" in data:
        return EmbeddedLaunchPad.from_dict(data)
    return LaunchPad.from_dict(data)


def launchpad_dict(settings: CrystaloopSettings) -> dict[str, Any]:
    """Return the ``my_launchpad.yaml`` contents for the profile."""
    if settings.backend == "embedded":
        return EmbeddedLaunchPad.to_dict_for(settings.embedded_dir, settings.launchpad_database)
    return {
        "host": settings.require_mongo_uri(),
        "name": settings.launchpad_database,
        "uri_mode": True,
        "logdir": None,
        "strm_lvl": "INFO",
        "mongoclient_kwargs": {"serverSelectionTimeoutMS": 5000},
    }


def fworker_dict(category: str) -> dict[str, Any]:
    """Return the ``my_fworker_<category>.yaml`` contents of one worker category."""
    return FWorker(name=f"crystaloop-{category}", category=category).to_dict()


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)


def fw_config(settings: CrystaloopSettings) -> dict[str, Any]:
    """Return the ``FW_config.yaml`` contents: a stale workflow lock is broken after the expiry.

    FireWorks reads it at import from ``FW_CONFIG_FILE``; ``crystaloop`` sets that variable
    (:func:`crystaloop.launchpad.fw_env.use_fw_config`), a site's ``rlaunch`` needs it exported.
    """
    return {
        "WFLOCK_EXPIRATION_SECS": settings.lock_expiration_s,
        "WFLOCK_EXPIRATION_KILL": True,
    }


def write_fw_config(settings: CrystaloopSettings) -> Path:
    """Write the home's ``FW_config.yaml`` (:func:`fw_config`) and return its path."""
    _write_private(settings.fw_config_file, fw_config(settings))
    return settings.fw_config_file


def write_configuration(settings: CrystaloopSettings) -> list[Path]:
    """Write every configuration file of ``settings`` and return their paths."""
    written = [
        settings.settings_file,
        settings.launchpad_file,
        settings.jobflow_config_file,
        settings.fw_config_file,
    ]
    _write_private(settings.settings_file, settings.to_yaml_dict())
    write_fw_config(settings)
    _write_private(settings.launchpad_file, launchpad_dict(settings))
    _write_private(settings.jobflow_config_file, jobflow_config(settings))
    for category in sorted(set(settings.categories.values())):
        path = settings.fworker_file(category)
        _write_private(path, fworker_dict(category))
        written.append(path)
    if settings.backend == "embedded":
        settings.embedded_dir.mkdir(parents=True, exist_ok=True)
        settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    return written
