"""jobflow Makers for the loop's steps, in atomate2 style.

A Maker is a dataclass with a ``name`` and its science as fields; ``make()`` is wrapped by
:func:`~crystaloop.makers.jobs.crystaloop_job`, which fixes the output schema and the FireWorks
worker category (from the settings). :class:`DFTMaker` returns a Flow of atomate2 jobs (or, with
the ``torchsim`` engine, one :class:`BatchOracleMaker` job for many structures).
"""

from __future__ import annotations

from crystaloop.makers.batch_oracle import BatchOracleMaker
from crystaloop.makers.dft import DFTMaker
from crystaloop.makers.generate import GenerateMaker
from crystaloop.makers.label import LabelMaker
from crystaloop.makers.score import ScoreMaker
from crystaloop.makers.screen import ScreenMaker
from crystaloop.makers.select import SelectMaker
from crystaloop.makers.train import TrainSurrogateMaker
from crystaloop.makers.train_generator import TrainGeneratorMaker

__all__ = [
    "BatchOracleMaker",
    "DFTMaker",
    "GenerateMaker",
    "LabelMaker",
    "ScoreMaker",
    "ScreenMaker",
    "SelectMaker",
    "TrainGeneratorMaker",
    "TrainSurrogateMaker",
]
