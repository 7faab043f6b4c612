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


def _campaign_child(home: str, options: dict, queue) -> None:  # runs in a fresh process
    import sys

    os.environ["CRYSTALOOP_HOME"] = home
    from crystaloop.launchpad.runner import run_campaign
    from crystaloop.settings import load_settings
    from crystaloop.workflows.plan import CampaignOptions

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    status = run_campaign(load_settings(), CampaignOptions(**options), workers=2, echo=echo)
    queue.put(status.model_dump(mode="json"))


def copy_corpus(source: Path, home: Path) -> bool:
    """Copy the embedded corpus collections of home ``source`` into a new home ``home``.

    Every benchmark home would otherwise ingest the same bundled sample corpus again (about a
    minute on 2 cores); with the collections copied, ``crystaloop run`` finds the corpus
    present and skips the ingest. Only the ``corpus`` and ``corpus_aliases`` SQLite files of the
    embedded profile are copied, and only into a home that has none. Returns whether it copied.
    """
    import shutil

    files = sorted(source.glob("db/*/corpus")) + sorted(source.glob("db/*/corpus_aliases"))
    if len(files) != 2 or list(home.glob("db/*/corpus")):
        return False
    for path in files:
        target = home / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return True


def run_campaign_in(home: Path, options: dict) -> tuple[float, dict]:
    """Run a campaign with ``options`` (CampaignOptions fields) in ``home``, in its own process.

    The library call behind ``crystaloop run`` (:func:`crystaloop.launchpad.runner.run_campaign`),
    in a fresh process so that each home's settings, stores and LaunchPad stay apart. Returns the
    wall seconds (home preparation included) and the campaign's final status.
    """
    import multiprocessing
    import time

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start = time.perf_counter()
    process = ctx.Process(target=_campaign_child, args=(str(home), options, queue))
    process.start()
    status = queue.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"the campaign in {home} failed (exit code {process.exitcode})")
    return time.perf_counter() - start, status


def package_structures(
    max_sites: int, sources: tuple[str, ...] = ("perov_5", "carbon_24", "matbench_dielectric")
) -> list:
    """Return the package's real structures (Perov-5 and Carbon-24 samples, MP dielectric).

    Only cells of at most ``max_sites`` sites of the named ``sources``, in file order.
    """
    import warnings

    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import structure_from
    from crystaloop.stores.ingest.sample import sample_corpus_files

    out = []
    files = sample_corpus_files()
    for source in sources:
        _, records = read_records(files[source], max_bytes=2**31)
        for record in records:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = structure_from(record)
            if len(structure) <= max_sites:
                out.append(structure)
    return out


def displaced(structure, sigma: float, rng):
    """Return ``structure`` with every site moved by Gaussian noise of ``sigma`` Å."""
    from pymatgen.core import Structure

    noise = rng.normal(0, sigma, (len(structure), 3))
    return Structure(
        structure.lattice,
        structure.species,
        structure.cart_coords + noise,
        coords_are_cartesian=True,
    )
