"""Makers that return Flows: one iteration, the self-re-entering campaign, targeted design.

Empty until the campaign issue lands; see DESIGN.md section 2.
"""
