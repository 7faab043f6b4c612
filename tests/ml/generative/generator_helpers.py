"""Tiny generator configurations for fast tests."""

from __future__ import annotations

from crystaloop.ml.generative.config import GeneratorConfig


def tiny_config(kind: str = "diffusion", mode: str = "csp", **kwargs) -> GeneratorConfig:
    base = {
        "kind": kind,
        "mode": mode,
        "hidden": 16,
        "layers": 2,
        "n_freq": 4,
        "time_dim": 16,
        "timesteps": 50,
        "max_atoms": 8,
        "lattice_scale": 2.6,
        "num_atoms_counts": [0, 0, 2, 0, 0, 1],
        "elements": [8, 11, 17, 22, 38],
    }
    base.update(kwargs)
    return GeneratorConfig(**base)
