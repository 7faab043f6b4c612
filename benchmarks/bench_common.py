"""What the benchmark scripts share: the machine description and element groups.

Run the scripts from the repository root (``python benchmarks/NAME.py``); their folder is then on
``sys.path`` and ``import bench_common`` finds this module.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: Chemically similar elements, for relabelling structures into plausible new ones.
ELEMENT_GROUPS = [
    ["Li", "Na", "K", "Rb", "Cs"],
    ["Be", "Mg", "Ca", "Sr", "Ba"],
    ["O", "S", "Se", "Te"],
    ["F", "Cl", "Br", "I"],
    ["N", "P", "As", "Sb"],
    ["Ti", "Zr", "Hf"],
    ["V", "Nb", "Ta"],
    ["Cr", "Mo", "W"],
    ["Fe", "Ru", "Os"],
    ["Co", "Rh", "Ir"],
    ["Ni", "Pd", "Pt"],
    ["Cu", "Ag", "Au"],
    ["Zn", "Cd", "Hg"],
    ["B", "Al", "Ga", "In", "Tl"],
    ["C", "Si", "Ge", "Sn", "Pb"],
]


def hardware() -> dict[str, object]:
    """Describe this machine: CPU model, core count, architecture, Python."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "processor": platform.processor(),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
