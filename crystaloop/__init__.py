"""crystaloop: AI-guided crystal discovery campaigns on FireWorks and atomate2.

The package is layered (see ``DESIGN.md`` in the shared folder): ``settings`` and ``schemas`` at
the bottom, then ``ml`` and ``chem`` (pure science), ``stores`` (maggma), ``makers`` and
``workflows`` (jobflow), ``launchpad`` (the only FireWorks code) and ``cli`` on top.
Importing the package itself is cheap: no torch, no FireWorks.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
