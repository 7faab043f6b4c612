"""Seed 001's conditional structure modification: a less stable polymorph → a more stable one."""
