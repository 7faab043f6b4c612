"""Multi-process (multi-GPU) training with ``torch.distributed``: one process per device.

:func:`launch` starts ``world_size`` processes, initialises a process group (``nccl`` for CUDA
devices, ``gloo`` on CPU) and runs :func:`crystaloop.ml.training.train` in each; training then
wraps the model in ``DistributedDataParallel`` and splits every epoch's batches between the
processes. Rank 0's result is returned (all ranks end with the same weights).
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.data.dataset import GraphSource
from crystaloop.ml.training import TrainOptions, train


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(
    rank: int,
    world_size: int,
    port: int,
    config: CrysformerConfig,
    train_set: GraphSource,
    val_set: GraphSource,
    options: TrainOptions,
    out_dir: str,
) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cuda = options.device.startswith("cuda")
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world_size)
    try:
        device = f"cuda:{rank}" if cuda else "cpu"
        result = train(config, train_set, val_set, replace(options, device=device))
        state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
        torch.save(
            {"state": state, "best_epoch": result.best_epoch, "epochs": len(result.history)},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


def launch(
    config: CrysformerConfig,
    train_set: GraphSource,
    val_set: GraphSource,
    options: TrainOptions,
    world_size: int = 2,
) -> list[dict[str, Any]]:
    """Train with ``world_size`` processes; return each rank's ``{state, best_epoch, epochs}``."""
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(
            _worker,
            args=(world_size, _free_port(), config, train_set, val_set, options, tmp),
            nprocs=world_size,
            join=True,
        )
        return [
            torch.load(os.path.join(tmp, f"rank{r}.pt"), weights_only=True)
            for r in range(world_size)
        ]
