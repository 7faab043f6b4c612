"""The masked self-supervised generator (seed 003).

Liu et al., "Self-Supervised Generative Models for Crystal Structures": mask species and perturb
positions of a known crystal, and an equivariant network (Crysformer's e3nn attention layers)
fills the species in and moves the atoms back. Generation masks a species of a corpus prototype
and samples a new one, which proposes new compositions on known frameworks.
"""
