"""Transfer of a trained Crysformer to new targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small_config

from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.crysformer.transfer import transfer_state


def test_trunk_is_kept_and_a_mapped_head_is_copied():
    old_cfg, new_cfg = small_config(("x", "y")), small_config(("e_form", "new"))
    torch.manual_seed(1)
    old = Crysformer(old_cfg).state_dict()
    state = transfer_state(old, old_cfg, new_cfg, {"e_form": "y"}, np.array([1.0, 2.0]), np.ones(2))
    model = Crysformer(new_cfg)
    model.load_state_dict(state)  # complete: loads strictly
    assert torch.equal(state["embed.weight"], old["embed.weight"])
    assert torch.equal(state["heads.0.0.weight"], old["heads.1.0.weight"])  # e_form ← y
    assert not torch.equal(state["heads.1.0.weight"], old["heads.1.0.weight"])  # fresh head
    assert state["target_mean"].tolist() == [1.0, 2.0]


def test_other_architectures_are_refused():
    old_cfg = small_config(("x",))
    new_cfg = small_config(("x",))
    new_cfg.num_layers = 3
    with pytest.raises(ValueError, match="same architecture"):
        transfer_state(
            Crysformer(old_cfg).state_dict(), old_cfg, new_cfg, {}, np.zeros(1), np.ones(1)
        )
