"""jobflow Makers for the loop's steps, in atomate2 style.

A Maker is a dataclass with a ``name`` and its science as fields; ``make()`` is wrapped by
:func:`~crystaloop.makers.jobs.crystaloop_job`, which fixes the output schema and the FireWorks
worker category (from the settings). So far: :class:`GenerateMaker`, :class:`ScreenMaker` and
:class:`ScoreMaker`; select, DFT, label and training Makers come with the campaign issue.
"""

from __future__ import annotations

from crystaloop.makers.generate import GenerateMaker
from crystaloop.makers.score import ScoreMaker
from crystaloop.makers.screen import ScreenMaker

__all__ = ["GenerateMaker", "ScoreMaker", "ScreenMaker"]
