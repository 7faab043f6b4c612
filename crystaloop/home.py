"""Where crystaloop's home is, without importing the settings machinery (pydantic).

The command line needs the home before any sub-command runs (to point FireWorks at the home's
``FW_config.yaml`` before FireWorks is imported), and ``crystaloop --help`` must stay light.
:mod:`crystaloop.settings` re-exports both names.
"""

from __future__ import annotations

import os
from pathlib import Path

#: FireWorks' configuration file in the home (see ``CrystaloopSettings.fw_config_file``).
FW_CONFIG_FILENAME = "FW_config.yaml"


def crystaloop_home() -> Path:
    """Return the configuration folder: ``$CRYSTALOOP_HOME`` or ``~/.crystaloop``."""
    return Path(os.environ.get("CRYSTALOOP_HOME", "~/.crystaloop")).expanduser().resolve()
