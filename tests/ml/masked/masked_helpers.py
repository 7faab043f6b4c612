"""Structures of the masked-generator tests (a module name no other test directory uses)."""

from __future__ import annotations

from helpers import nacl, perovskite


def tiny_structures():
    """Perovskites ABO3 and rock salts of a few elements (12 crystals)."""
    out = []
    for i, (a, b) in enumerate([("Sr", "Ti"), ("Ba", "Ti"), ("Ca", "Zr"), ("Sr", "Zr")]):
        s = perovskite(3.9 + 0.05 * i)
        s.replace_species({"Sr": a, "Ti": b})
        out.append((f"p{i}", s))
    for i, (a, b) in enumerate([("Na", "Cl"), ("K", "Cl"), ("Mg", "O"), ("Ca", "O")]):
        s = nacl(4.5 + 0.3 * i)
        s.replace_species({"Na": a, "Cl": b})
        out.append((f"r{i}", s))
    return out


def graphs_of(structures):
    from crystaloop.ml.data.graph import knn_graph

    return [knn_graph(s) for _, s in structures]
