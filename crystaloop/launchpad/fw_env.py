"""Point FireWorks at the home's ``FW_config.yaml`` before FireWorks is imported.

FireWorks reads its configuration once, when ``fireworks.fw_config`` is first imported; this
module imports nothing of FireWorks so that the command line can call :func:`use_fw_config` first.
"""

from __future__ import annotations

import os
from pathlib import Path


def use_fw_config(home: Path) -> bool:
    """Set ``FW_CONFIG_FILE`` to ``home``'s ``FW_config.yaml``; return whether it is in effect.

    An ``FW_CONFIG_FILE`` already set is kept, and a home without the file changes nothing.
    Too late once FireWorks is imported (its settings are read at import).
    """
    import sys

    from crystaloop.settings import FW_CONFIG_FILENAME

    path = home / FW_CONFIG_FILENAME
    if path.exists():
        os.environ.setdefault("FW_CONFIG_FILE", str(path))
    in_time = "fireworks.fw_config" not in sys.modules
    return os.environ.get("FW_CONFIG_FILE") == str(path) and in_time
