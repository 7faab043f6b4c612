"""Point FireWorks at the home's ``FW_config.yaml`` before FireWorks is imported.

FireWorks reads its configuration once, when ``fireworks.fw_config`` is first imported; this
module imports nothing of FireWorks so that the command line can call :func:`use_fw_config` first.
"""

from __future__ import annotations

import os
from pathlib import Path


def use_fw_config(home: Path) -> bool:
    """Set ``FW_CONFIG_FILE`` to ``home``'s ``FW_config.yaml``; return whether it takes effect.

    An ``FW_CONFIG_FILE`` already set is kept, and a home without the file changes nothing.
    FireWorks prefers an ``FW_config.yaml`` in the working folder or in ``~/.fireworks`` to
    ``FW_CONFIG_FILE``, and reads its settings once, at import: in either case the home's file
    does not take effect, and this returns False.
    """
    import sys

    from crystaloop.home import FW_CONFIG_FILENAME

    path = home / FW_CONFIG_FILENAME
    if path.exists():
        os.environ.setdefault("FW_CONFIG_FILE", str(path))
    in_time = "fireworks.fw_config" not in sys.modules
    return (
        os.environ.get("FW_CONFIG_FILE") == str(path)
        and in_time
        and shadowing_fw_config(home) is None
    )


def shadowing_fw_config(home: Path) -> Path | None:
    """Return the ``FW_config.yaml`` FireWorks reads instead of the home's, or ``None``.

    FireWorks looks in the working folder and in ``~/.fireworks`` before ``FW_CONFIG_FILE``.
    """
    from crystaloop.home import FW_CONFIG_FILENAME

    own = (home / FW_CONFIG_FILENAME).resolve()
    for folder in (Path.cwd(), Path.home() / ".fireworks"):
        candidate = folder / FW_CONFIG_FILENAME
        if candidate.exists() and candidate.resolve() != own:
            return candidate
    return None
