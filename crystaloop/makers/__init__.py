"""jobflow Makers for the loop's steps (generate, screen, score, select, DFT, label, train).

Empty until the campaign issue lands; see DESIGN.md section 2.
"""
