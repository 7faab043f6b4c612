"""Chemistry on pymatgen structures: validity checks, symmetry, deduplication.

No workflow engine and no store here: plain functions that run anywhere.
"""
