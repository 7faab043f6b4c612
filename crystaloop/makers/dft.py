"""``DFTMaker``: one structure's oracle sub-flow (optional ML pre-relaxation, relax, static).

Three oracles, one output shape:

* ``chgnet`` (the embedded default) and ``sevennet`` (SevenNet-0, weights in the ``sevenn``
  wheel): atomate2's ``ForceFieldRelaxMaker`` and ``ForceFieldStaticMaker`` with
  ``force_field_name`` ``"CHGNet"`` / ``"SevenNet"``;
* ``vasp``: atomate2's ``MPGGADoubleRelaxStaticMaker`` (or any atomate2 relax/static flow maker),
  optionally after a CHGNet pre-relaxation.

Two engines for the ML oracles: ``atomate2`` (one sub-flow per structure, above) and
``torchsim`` (:meth:`DFTMaker.make_batch`: one job relaxes every structure of a dispatch
together on the batch-oracle worker category, see :mod:`crystaloop.makers.batch_oracle`). Both
write labels of the same oracle name, so they share its references and hull.

The sub-flow's output is a small dict of references into the final (static) task document:
total energy, the document's top-level ``structure`` (the one field both document types share),
the band gap where the oracle gives one, and the static job's uuid as the calculation id. Every
job after the first tolerates a failed parent (``OnMissing.NONE``) so that a failure fizzles
the whole chain quickly and the collector, not a stuck Firework, records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Flow, Maker

from crystaloop.makers.jobs import jobs_of

ORACLES = ("chgnet", "sevennet", "vasp")
#: atomate2's force-field name of each ML oracle.
FORCE_FIELDS = {"chgnet": "CHGNet", "sevennet": "SevenNet"}
ENGINES = ("atomate2", "torchsim")


def plain_structure(structure: Any) -> Any:
    """Return ``structure`` (or its dict) as a bare Structure: no site or structure properties.

    An oracle's output structure carries its energy, forces and the like as properties; fed to
    another ASE-based job, those collide with the calculator's results.
    """
    from pymatgen.core import Structure

    if isinstance(structure, dict):
        structure = Structure.from_dict(structure)
    return Structure(structure.lattice, structure.species, structure.frac_coords)


@dataclass
class DFTMaker(Maker):
    """Make the oracle sub-flow of one structure.

    Attributes
    ----------
    name
        Name prefix of the sub-flow.
    oracle
        ``chgnet``, ``sevennet`` or ``vasp``; names the labels (never mixed in one hull).
    engine
        ``atomate2`` (one sub-flow per structure) or ``torchsim`` (ML oracles with a batched
        potential, :data:`crystaloop.ml.batch_relax.POTENTIALS`: one job per dispatch).
    prerelax_maker
        Optional ML pre-relaxation before the oracle (e.g. a CHGNet ``ForceFieldRelaxMaker``
        before VASP); ``None``: none.
    relax_maker, static_maker
        ML oracles: the force-field relax and static makers (default: the oracle's potential,
        the relax guarded against collapsing cells, see :mod:`crystaloop.makers.guarded`).
        Unused by ``vasp``.
    vasp_maker
        ``vasp``: a flow maker whose output is the final VASP task document
        (default ``MPGGADoubleRelaxStaticMaker()``).
    """

    name: str = "oracle"
    oracle: str = "chgnet"
    prerelax_maker: Maker | None = None
    relax_maker: Maker | None = None
    static_maker: Maker | None = None
    vasp_maker: Maker | None = None
    engine: str = "atomate2"
    batch_maker: Maker | None = None

    def __post_init__(self) -> None:
        from crystaloop.ml.batch_relax import POTENTIALS

        if self.oracle not in ORACLES:
            raise ValueError(f"unknown oracle {self.oracle!r}; known: {', '.join(ORACLES)}")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown oracle engine {self.engine!r}; known: {', '.join(ENGINES)}")
        if self.engine == "torchsim" and self.prerelax_maker is not None:
            raise ValueError("the torchsim engine relaxes in one batch: it takes no prerelax_maker")
        if self.engine == "torchsim" and self.oracle not in POTENTIALS:
            raise ValueError(
                f"the torchsim engine has no batched {self.oracle} potential; it batches "
                f"{', '.join(sorted(POTENTIALS))} (use the atomate2 engine for {self.oracle})"
            )

    def default_relax_maker(self) -> Maker:
        """ML oracles: the guarded relaxation (see :mod:`crystaloop.makers.guarded`)."""
        from crystaloop.makers.guarded import GuardedForceFieldRelaxMaker

        return GuardedForceFieldRelaxMaker(
            force_field_name=FORCE_FIELDS.get(self.oracle, "CHGNet"), steps=300
        )

    def default_static_maker(self) -> Maker:
        """ML oracles: atomate2's static calculation with the oracle's potential."""
        from atomate2.forcefields.jobs import ForceFieldStaticMaker

        return ForceFieldStaticMaker(force_field_name=FORCE_FIELDS.get(self.oracle, "CHGNet"))

    def default_batch_maker(self) -> Maker:
        """``torchsim``: the batched relaxation of the oracle's potential."""
        from crystaloop.makers.batch_oracle import BatchOracleMaker

        return BatchOracleMaker(oracle=self.oracle)

    def make_batch(self, structures: list[Any], subject_ids: list[str]) -> Any:
        """Return one job that labels every structure (``torchsim`` engine); output: a list.

        Item ``i`` of the output is the result of ``subject_ids[i]`` in the shape of
        :meth:`make`'s output, or ``{"subject_id", "oracle", "error"}`` when it failed.
        """
        if self.engine != "torchsim":
            raise ValueError(f"make_batch needs the torchsim engine, not {self.engine}")
        cells = [plain_structure(s).get_reduced_structure() for s in structures]
        return (self.batch_maker or self.default_batch_maker()).make(cells, subject_ids)

    @staticmethod
    def default_vasp_maker() -> Maker:
        """``vasp``: atomate2's ``MPGGADoubleRelaxStaticMaker``."""
        from atomate2.vasp.flows.mp import MPGGADoubleRelaxStaticMaker

        return MPGGADoubleRelaxStaticMaker()

    def make(self, structure: Any, subject_id: str) -> Flow:
        """Return the sub-flow of ``structure`` (a ``Structure`` or its dict) for ``subject_id``."""
        from jobflow import OnMissing

        # the same crystal in its Niggli cell: a skewed generated cell slows every neighbour search
        structure = plain_structure(structure).get_reduced_structure()
        jobs: list[Any] = []
        current: Any = structure
        if self.prerelax_maker is not None:
            pre = self.prerelax_maker.make(current)
            jobs.append(pre)
            current = pre.output.structure
        if self.oracle in FORCE_FIELDS:
            relax = (self.relax_maker or self.default_relax_maker()).make(current)
            static_maker = self.static_maker or self.default_static_maker()
            final = static_maker.make(relax.output.structure)
            jobs += [relax, final]
            band_gap = None
        else:
            final = (self.vasp_maker or self.default_vasp_maker()).make(current)
            jobs.append(final)
            band_gap = final.output.output.bandgap
        output = {
            "subject_id": subject_id,
            "oracle": self.oracle,
            "calc_id": final.output.uuid,
            "energy": final.output.output.energy,
            "structure": final.output.structure,
            "band_gap": band_gap,
            "entry": final.output.entry if self.oracle == "vasp" else None,
        }
        flow = Flow(jobs, output=output, name=f"{self.name} {subject_id}")
        first = True
        for job in jobs_of(flow):
            if not first:
                job.config.on_missing_references = OnMissing.NONE
            first = False
        return flow
