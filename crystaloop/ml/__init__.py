"""Machine learning in pure torch / e3nn (+ pymatgen at the edges); no workflow engine here."""
