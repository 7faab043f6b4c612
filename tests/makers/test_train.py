"""The surrogate's validation hold-out."""

from __future__ import annotations

import pytest
from helpers import stable_labels

from crystaloop.makers.train import TrainSurrogateMaker
from crystaloop.makers.train_generator import TrainGeneratorMaker
from crystaloop.ml.data.split import holdout_ids, split_of


def test_validation_ids_hold_out_at_least_one_and_are_seeded():
    ids = [f"l{i}" for i in range(10)]
    held = holdout_ids(ids, 0.2, seed=0)
    assert len(held) == 2 and held <= set(ids)
    assert held == holdout_ids(list(reversed(ids)), 0.2, seed=0)  # order does not matter
    assert len(holdout_ids(ids[:3], 0.01, seed=0)) == 1
    assert holdout_ids(ids[:2], 0.5, seed=0) == set()
    # the same hash as the data sets' split: on many ids the held-out share agrees with it
    many = [f"m{i}" for i in range(2000)]
    held = holdout_ids(many, 0.2, seed=1)
    val = {i for i in many if split_of(i, 0.2, 0.0, seed=1) == "val"}
    assert len(held & val) / len(val) > 0.95


def test_frozen_makers_keep_the_model_but_the_bootstrap_still_trains(settings, monkeypatch):
    out = TrainSurrogateMaker(frozen=True).train("eform", "c", 2)
    assert not out.trained and out.model == "eform" and "frozen" in out.reason
    # the confidence is re-fitted all the same: here on the model's own validation residuals,
    # as the campaign has no oracle label yet
    calibration = out.calibration["e_form"]
    assert calibration["campaign_points"] == 0 and calibration["data"] == "campaign + validation"
    from crystaloop.ml.checkpoint import find_surrogate, load_ensemble
    from crystaloop.ml.crysformer.uncertainty import fit_calibration

    ensemble = load_ensemble(find_surrogate("eform"), device="cpu")
    j = ensemble.config.targets.index("e_form")
    residuals = ensemble.residuals
    expected = fit_calibration(
        residuals[:, 0, j], residuals[:, 1, j], calibration["tolerance"], ensemble.level
    )
    assert calibration["n"] == expected["n"] > 0
    assert calibration["accept_std"] == pytest.approx(expected["accept_std"])
    assert calibration["scale"] == pytest.approx(expected["scale"])
    # accepting nothing (σ threshold 0) and an accepted share are exclusive
    assert (calibration["accept_std"] > 0) == (calibration["accepted_share"] > 0)
    with pytest.raises(ValueError, match="no chgnet labels"):  # forced: the bootstrap trains
        TrainSurrogateMaker(frozen=True).train("eform", "c", -1, force=True)
    import crystaloop.settings

    def no_store(*args, **kwargs):
        raise AssertionError("a frozen generator maker must not read the stores")

    monkeypatch.setattr(crystaloop.settings, "load_settings", no_store)
    out = TrainGeneratorMaker(frozen=True).train("perov5", "c", 2)
    assert not out.trained and out.model == "perov5" and "frozen" in out.reason


class _Labels:
    """The label store's pre-label predictions, as given."""

    def __init__(self, rows):
        self.rows = rows

    def prelabel_predictions(self, campaign, oracle, names):
        return self.rows


def _row(mean: float, label: float, std: float = 0.05) -> dict:
    return {"e_form": label, "nsites": 5, "predicted": {"e_form": {"mean": mean, "std_raw": std}}}


def test_campaign_points_that_contradict_the_validation_data_replace_them():
    maker = TrainSurrogateMaker()
    # four confident predictions each more than 1 eV/atom off (unrelaxed generated cells): far
    # outside the validation calibration's intervals, they say it does not hold here
    missed = _Labels([_row(0.2, -1.9), _row(0.1, -1.5), _row(0.3, -1.3), _row(-0.2, -1.3)])
    fitted = maker.recalibrate("eform", "c", missed)["e_form"]
    assert fitted["data"] == "campaign" and fitted["campaign_points"] == 4
    assert fitted["shift_p_value"] == pytest.approx(1e-4)
    assert fitted["accept_std"] == 0.0 and fitted["accepted_share"] == 0.0  # accept nothing
    # the same number of points, right: the validation residuals still join them
    right = _Labels([_row(-1.9, -1.9), _row(-1.5, -1.45), _row(-1.3, -1.35), _row(-1.3, -1.3)])
    fitted = maker.recalibrate("eform", "c", right)["e_form"]
    assert fitted["data"] == "campaign + validation" and fitted["n"] > 1000
    assert fitted["accept_std"] > 0
    # one miss alone is no evidence (p = 0.1)
    fitted = maker.recalibrate("eform", "c", _Labels([_row(0.2, -1.9)]))["e_form"]
    assert fitted["data"] == "campaign + validation"


def test_an_unknown_selection_strategy_is_refused():
    from crystaloop.makers.select import SelectMaker

    with pytest.raises(ValueError, match="unknown selection strategy 'best'"):
        SelectMaker(strategy="best")


def _perovskite(shift: float = 0.0):
    from pymatgen.core import Lattice, Structure

    return Structure(
        Lattice.cubic(3.9),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5 + shift, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def _p1_cell():
    from pymatgen.core import Lattice, Structure

    lattice = Lattice.from_parameters(4.1, 4.6, 5.3, 81, 97, 104)
    coords = [[0.02, 0.05, 0.11], [0.47, 0.61, 0.39], [0.23, 0.83, 0.71], [0.81, 0.29, 0.57]]
    return Structure(lattice, ["Sr", "Ti", "O", "O"], coords)


def test_idealized_primitive_removes_a_small_distortion_and_refuses_p1():
    from crystaloop.chem.symmetry import idealized_primitive, symmetry_info

    distorted = _perovskite(shift=0.005)  # 0.02 Å: P1-free but below cubic at a tight tolerance
    assert symmetry_info(distorted, symprec=1e-4).number != 221
    ideal = idealized_primitive(distorted, symprec=0.1)
    assert ideal is not None and len(ideal) == 5
    assert symmetry_info(ideal, symprec=1e-4).number == 221
    assert idealized_primitive(_p1_cell(), symprec=0.1) is None


def _registered_generators(settings):
    from crystaloop.stores.factory import open_store

    return open_store(settings, "models").query({"kind": "generator"})


def test_p1_discoveries_do_not_fine_tune_the_generator(settings):
    stable_labels(settings, [_p1_cell(), _p1_cell()])
    out = TrainGeneratorMaker(min_new_stable=1, epochs=1, check_samples=0).train("perov5", "c", 0)
    assert not out.trained and out.model == "perov5"
    assert "2 new stable, 0 of them with symmetry" in out.reason
    assert list(_registered_generators(settings)) == []


def test_a_fine_tune_that_lowers_the_screen_pass_rate_is_rejected(settings, monkeypatch):
    import crystaloop.makers.train_generator as train

    stable_labels(settings, [_perovskite(0.005), _perovskite(0.0)])
    rates = iter([0.8, 0.5])  # parent, then fine-tuned: 0.5 < 0.75 × 0.8
    monkeypatch.setattr(train, "screen_pass_rate", lambda *args: next(rates))
    maker = TrainGeneratorMaker(min_new_stable=2, epochs=1, check_samples=4)
    out = maker.train("perov5", "c", 0)
    assert not out.trained and out.model == "perov5"
    assert "fine-tuned generator rejected: 50% of 4 samples pass the screens, parent 80%" in (
        out.reason
    )
    assert list(_registered_generators(settings)) == []
    rates = iter([0.8, 0.7])  # 0.7 ≥ 0.6: kept and registered
    out = maker.train("perov5", "c", 0)
    assert out.trained and out.model != "perov5"
    [doc] = _registered_generators(settings)
    assert doc["metrics"]["screen_pass_rate"] == {"parent": 0.8, "fine_tuned": 0.7}
    assert doc["metrics"]["new_stable"] == 2


def test_screen_pass_rate_samples_and_screens(settings):
    from crystaloop.makers.train_generator import screen_pass_rate
    from crystaloop.ml.generative.checkpoint import find_generator, load_generator

    model = load_generator(find_generator("perov5", "abinitio"), device="cpu")
    rate = screen_pass_rate(model, 6, 10, 0, settings)
    assert 0.0 <= rate <= 1.0 and rate * 6 == round(rate * 6)
    assert rate == screen_pass_rate(model, 6, 10, 0, settings)  # seeded


def test_the_surrogate_also_learns_each_candidates_generated_cell(settings):
    from helpers import perovskite

    from crystaloop.chem.energies import formation_energy_per_atom, shipped_references
    from crystaloop.schemas import CandidateDoc, LabelDoc
    from crystaloop.stores.candidates import CandidateStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore, label_id
    from crystaloop.stores.models import ModelRegistry

    refs = shipped_references("chgnet")
    labels, candidates = [], []
    for i in range(5):
        relaxed, start = perovskite(3.9 + 0.02 * i), perovskite(4.3 + 0.02 * i)
        energy = -35.0 - i
        sid = f"c:0:{i}"
        labels.append(
            LabelDoc(
                label_id=label_id(sid, "chgnet", f"x{i}"), subject_id=sid, kind="candidate",
                campaign="c", iteration=0, oracle="chgnet", calc_id=f"x{i}",
                structure=relaxed.as_dict(), formula="SrTiO3", chemsys="O-Sr-Ti",
                elements=["O", "Sr", "Ti"], nsites=5, energy=energy, energy_per_atom=energy / 5,
                e_form=formation_energy_per_atom(relaxed.composition, energy, refs),
            )
        )  # fmt: skip
        candidates.append(
            CandidateDoc(
                candidate_id=sid, campaign="c", iteration=0, index=i, structure=start.as_dict(),
                formula="SrTiO3", nsites=5, generator="g", status="passed",
            )
        )  # fmt: skip
    LabelStore(open_store(settings, "labels")).upsert(labels)
    CandidateStore(open_store(settings, "candidates")).upsert(candidates)
    maker = TrainSurrogateMaker(epochs=1, members=2, val_fraction=0.2)
    out = maker.train("eform", "c", 0, force=True)
    assert out.trained
    doc = ModelRegistry(open_store(settings, "models")).latest("c", "surrogate")
    # 5 labels: 1 held out with its generated twin, 4 relaxed + 4 generated cells train
    assert doc.n_train == 8 and doc.metrics["n_val"] == 2
    out = TrainSurrogateMaker(epochs=1, members=2, initial_structures=False).train(
        "eform", "c", 1, force=True
    )
    assert ModelRegistry(open_store(settings, "models")).latest("c", "surrogate").n_train == 4
