"""GAN fine-tuning of a masked generator with a critic (seed 003's Methods).

The generator (the pre-trained :class:`~crystaloop.ml.masked.model.MaskedDenoiser`) fills
masked, displaced real crystals in; the critic (a binary Crysformer, initialised from the
downstream stability classifier) scores crystals in ``[0, 1]``. The losses are the seed's
Wasserstein-style distances between the critic's score and a target (its code measures the L1
distance between the critic's two-class softmax and a one-hot label, which is ``2 |p − y|``):

* critic: ``L_D = mean |D(real) − y_real| + mean |D(fake) − 0|`` (eq. 2), with ``y_real`` the
  real crystal's stability label (1 when none is given), and real crystals displaced by an
  infinitesimal noise (``real_noise`` Å) so the critic cannot tell them by exact positions;
* generator: ``L_G = w_W · mean |D(fake) − 1| + NLL(species) + w_position · MSE(displacement)``
  (eq. 3, the reconstruction terms kept), ``w_W = 0.1``.

Adam with learning rates 1e-4 (generator) and 1e-5 (critic, β = (0.5, 0.999) as in the seed's
code); the generator is updated ``critic_every`` (10) times per critic update. The seed's L1
distance over two softmax classes is ``2 |p − y|``; the factor 2 is dropped here (it only
scales the learning rates). The fake crystal takes the arg-max species on its masked sites, as
in the seed's code, but through a straight-through estimator: the critic sees the chosen
element's own embedding (so it cannot tell a fake by a blended embedding) while the gradient
flows through the species probabilities, and the predicted positions are differentiable too,
so ``L_G``'s adversarial term trains the generator (in the seed's code it cannot: the arg-max
has no gradient). In the critic's step the fake is an ordinary crystal of the chosen elements.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.data.batch import GraphBatch, collate
from crystaloop.ml.data.graph import CrystalGraph
from crystaloop.ml.masked.corruption import displaced, mean_free_noise


@dataclass
class GanOptions:
    """The seed's GAN recipe (defaults) and the budget.

    Attributes
    ----------
    epochs, batch_size, seed, device, time_limit
        Budget and batching (``time_limit`` in seconds).
    lr_generator, lr_critic
        Adam learning rates (1e-4, 1e-5).
    w_adversarial
        Weight of the adversarial term in the generator's loss (0.1).
    critic_every
        Generator updates per critic update (10).
    real_noise
        Displacement of the real crystals shown to the critic, Å (0.001).
    """

    epochs: int = 5
    batch_size: int = 32
    seed: int = 0
    device: str = "cpu"
    time_limit: float | None = None
    lr_generator: float = 1e-4
    lr_critic: float = 1e-5
    w_adversarial: float = 0.1
    critic_every: int = 10
    real_noise: float = 0.001


@dataclass
class GanResult:
    """Per-epoch means of the losses and of the critic's scores."""

    history: list[dict[str, float]] = field(default_factory=list)
    generator_steps: int = 0
    critic_steps: int = 0
    seconds: float = 0.0


def critic_score(critic: Crysformer, graph: GraphBatch, scalars: Tensor | None = None) -> Tensor:
    """Return the critic's ``(B,)`` score in ``[0, 1]`` (the sigmoid of its logit)."""
    return torch.sigmoid(critic(graph, scalars)[:, 0])


def fake_crystals(
    generator: Any, critic: Crysformer, graph: GraphBatch
) -> tuple[GraphBatch, Tensor, dict[str, Tensor]]:
    """Corrupt ``graph``, let the generator fill it in; return the fake and its losses.

    Returns the fake batch (the chosen elements and the predicted positions), the critic's
    straight-through initial embedding of its atoms (the chosen element's embedding forward,
    the species probabilities' gradient backward) and the generator's reconstruction losses.
    """
    c, logits, move, losses = generator.reconstruction(graph)
    probs = torch.softmax(logits, dim=1)
    hard = torch.nn.functional.one_hot(probs.argmax(dim=1), probs.shape[1]).to(probs.dtype)
    choice = hard + probs - probs.detach()
    numbers = torch.where(c.mask, generator.elements[probs.argmax(dim=1)], graph.atomic_numbers)
    fake = displaced(c.graph, numbers, move)
    known = critic.embed(critic.khot[graph.atomic_numbers])
    chosen = choice @ critic.embed(critic.khot[generator.elements])
    scalars = torch.where(c.mask[:, None], chosen, known)
    recon = losses["loss"]
    return fake, scalars, {"nll": losses["nll"], "mse": losses["mse"], "recon": recon}


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """Keep ``module``'s parameters out of autograd inside the block (restored on any exit)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def fine_tune_gan(
    generator: Any,
    critic: Crysformer,
    real: Sequence[CrystalGraph],
    labels: Sequence[float] | None,
    options: GanOptions | None = None,
    log: Callable[[str], None] | None = None,
) -> GanResult:
    """Fine-tune ``generator`` and ``critic`` in place on the real crystals (see the module).

    ``labels`` are the real crystals' 0/1 stability labels (``None``: all real ones are 1).

    Raises
    ------
    ValueError
        Without real crystals, with a label count that differs, or with a critic whose graphs
        (``k``, cutoff) are not the generator's.
    """
    options = options or GanOptions()
    shape = generator.backbone.config
    if (critic.config.k, critic.config.cutoff) != (shape.k, shape.cutoff):
        raise ValueError(
            f"the critic's graphs (k {critic.config.k}, cutoff {critic.config.cutoff} Å) are not "
            f"the generator's (k {shape.k}, cutoff {shape.cutoff} Å)"
        )
    if not real:
        raise ValueError("no real crystals to train the GAN on")
    if labels is not None and len(labels) != len(real):
        raise ValueError(f"{len(labels)} labels for {len(real)} crystals")
    y_all = np.ones(len(real), dtype=np.float32) if labels is None else np.asarray(labels, "f4")
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    generator.to(options.device).train()
    critic.to(options.device).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=options.lr_generator)
    opt_d = torch.optim.Adam(critic.parameters(), lr=options.lr_critic, betas=(0.5, 0.999))
    result = GanResult()
    start = time.perf_counter()
    for epoch in range(options.epochs):
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        order = rng.permutation(len(real))
        for first in range(0, len(real), options.batch_size):
            picks = order[first : first + options.batch_size]
            graph = collate([real[i] for i in picks]).to(options.device)
            y_real = torch.from_numpy(y_all[picks]).to(options.device)
            with frozen(critic):
                fake, scalars, losses = fake_crystals(generator, critic, graph)
                d_fake = critic_score(critic, fake, scalars)
                adversarial = (d_fake - 1.0).abs().mean()
                loss_g = losses["recon"] + options.w_adversarial * adversarial
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                torch.nn.utils.clip_grad_norm_(generator.parameters(), 1.0)
                opt_g.step()
            result.generator_steps += 1
            row = {"loss_g": float(loss_g.detach()), "adversarial": float(adversarial.detach()),
                   "nll": float(losses["nll"].detach()), "mse": float(losses["mse"].detach()),
                   "d_fake": float(d_fake.detach().mean())}  # fmt: skip
            if result.generator_steps % options.critic_every == 0:
                noise = mean_free_noise(graph.batch, graph.num_graphs, options.real_noise)
                shown = displaced(graph, graph.atomic_numbers, noise.to(graph.edge_vec.dtype))
                d_real = critic_score(critic, shown)
                d_fake = critic_score(critic, replace(fake, edge_vec=fake.edge_vec.detach()))
                loss_d = (d_real - y_real).abs().mean() + d_fake.abs().mean()
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                result.critic_steps += 1
                row |= {"loss_d": float(loss_d.detach()), "d_real": float(d_real.detach().mean())}
            for key, value in row.items():
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
            if options.time_limit and time.perf_counter() - start > options.time_limit:
                break
        entry = {"epoch": epoch, **{k: v / counts[k] for k, v in sums.items()}}
        result.history.append(entry)
        if log is not None:
            log(", ".join(f"{k} {v:.4g}" for k, v in entry.items()))
        if options.time_limit and time.perf_counter() - start > options.time_limit:
            break
    generator.eval()
    critic.eval()
    result.seconds = time.perf_counter() - start
    return result


def fit_gan(
    generator: Any,
    critic: Crysformer,
    items: Sequence[tuple[str, Any, float]],
    plan: Any,
    options: GanOptions,
    out_dir: Any,
    training: dict[str, Any],
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fine-tune on the training split of ``(id, structure, stability label)`` items; write both.

    The generator goes to ``out_dir`` (a masked checkpoint whose card records the GAN run), the
    critic to ``out_dir/critic`` (a ``critic`` classifier). Returns both cards.
    """
    from pathlib import Path

    from crystaloop.ml.classifier_checkpoint import save_classifier
    from crystaloop.ml.data.graph import knn_graphs
    from crystaloop.ml.masked.checkpoint import save_masked
    from crystaloop.ml.masked.model import backbone_config

    train = plan.partition(items, lambda item: item[0])["train"]
    if not train:
        raise ValueError("no records fell in the training split")
    shape = backbone_config(generator.config)
    graphs = knn_graphs([s for _, s, _ in train], k=shape.k, cutoff=shape.cutoff)
    result = fine_tune_gan(generator, critic, graphs, [y for _, _, y in train], options, log)
    record = {
        **training,
        "gan": {
            "train_size": len(train),
            "stable_share": float(np.mean([y for _, _, y in train])),
            "epochs_run": len(result.history),
            "generator_steps": result.generator_steps,
            "critic_steps": result.critic_steps,
            "lr_generator": options.lr_generator,
            "lr_critic": options.lr_critic,
            "w_adversarial": options.w_adversarial,
            "critic_every": options.critic_every,
            "real_noise": options.real_noise,
            "seconds": round(result.seconds, 1),
            "last": result.history[-1] if result.history else {},
        },
    }
    card = save_masked(generator.cpu(), out_dir, training=record)
    critic_card = save_classifier(critic.cpu(), Path(out_dir) / "critic", "critic", training=record)
    return card, critic_card
