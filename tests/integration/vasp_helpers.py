"""atomate2's mock VASP with the silicon reference runs of ``../shared/data/vasp_reference``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The reference runs of ``MPGGADoubleRelaxStaticMaker`` on silicon, by job name.
REF_PATHS = {
    "MP GGA relax 1": "Si_mp_gga_relax/GGA_Relax_1",
    "MP GGA relax 2": "Si_mp_gga_relax/GGA_Relax_2",
    "MP GGA static": "Si_mp_gga_relax/GGA_Static",
}

#: Inputs checked against the reference: every one (INCAR, KPOINTS, POTCAR symbols, POSCAR)
#: except relax 1's POSCAR. The reference relax 1 started from the same silicon crystal with
#: another origin (sites at 1/8 and 7/8 instead of Si.cif's 0 and 1/4, 3/4 after the Niggli
#: reduction) and a slightly smaller lattice constant (3.849 Å vs 3.867 Å), so its sites cannot
#: match by construction of the data. Relax 2 and the static start from the copied reference
#: outputs, so their POSCARs are checked.
_ALL_INPUTS = ("incar", "kpoints", "potcar", "poscar")
FAKE_RUN_VASP_KWARGS = {
    "MP GGA relax 1": {"check_inputs": ("incar", "kpoints", "potcar")},
    "MP GGA relax 2": {"check_inputs": _ALL_INPUTS},
    "MP GGA static": {"check_inputs": _ALL_INPUTS},
}

#: Total energy of the reference static run (eV, 2-atom cell).
STATIC_ENERGY = -10.84060922


@contextlib.contextmanager
def mock_vasp(shared_data: Path, fake_run_vasp_kwargs: dict | None = None) -> Iterator[None]:
    """Patch VASP with the silicon reference runs for the duration of the block.

    A MonkeyPatch of its own: ``monkeypatch_vasp`` undoes every patch of the one it is given
    when it ends, which would also undo the test's chdir and environment.
    """
    from atomate2.utils.testing.vasp import monkeypatch_vasp

    patched = contextlib.contextmanager(monkeypatch_vasp)
    with (
        pytest.MonkeyPatch.context() as patch,
        patched(patch, shared_data / "vasp_reference") as register,
    ):
        register(REF_PATHS, fake_run_vasp_kwargs or FAKE_RUN_VASP_KWARGS)
        yield
