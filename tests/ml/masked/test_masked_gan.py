"""GAN fine-tuning: both players train, the critic's gradient reaches the generator."""

from __future__ import annotations

import torch
from helpers import graphs_of, tiny_structures

from crystaloop.ml.crysformer.classifier import from_backbone
from crystaloop.ml.data.batch import collate
from crystaloop.ml.masked.gan import GanOptions, critic_score, fake_crystals, fine_tune_gan


def test_the_critic_gradient_reaches_the_generator(tiny_masked):
    import copy

    generator = copy.deepcopy(tiny_masked[0]).train()
    critic = from_backbone(generator.backbone, "stable")
    graph = collate(graphs_of(tiny_structures()))
    torch.manual_seed(0)
    fake, scalars, _ = fake_crystals(generator, critic, graph)
    critic_score(critic, fake, scalars).mean().backward()
    grads = [p.grad for p in generator.species_head.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    moved = generator.displacement_head.weight.grad
    assert moved is not None and moved.abs().sum() > 0


def test_fine_tuning_updates_both_players_at_the_seed_ratio(tiny_masked):
    import copy

    generator = copy.deepcopy(tiny_masked[0])
    critic = from_backbone(generator.backbone, "stable")
    before_g = copy.deepcopy(generator.state_dict())
    before_d = copy.deepcopy(critic.state_dict())
    graphs = graphs_of(tiny_structures())
    labels = [1.0] * 4 + [0.0] * 4
    options = GanOptions(epochs=5, batch_size=2, critic_every=10)  # 4 batches × 5 = 20 steps
    result = fine_tune_gan(generator, critic, graphs, labels, options)
    assert result.generator_steps == 20 and result.critic_steps == 2
    assert any(not torch.equal(v, before_g[k]) for k, v in generator.state_dict().items())
    assert any(not torch.equal(v, before_d[k]) for k, v in critic.state_dict().items())
    assert {"loss_g", "adversarial", "nll", "mse", "d_fake"} <= set(result.history[0])
    assert any("loss_d" in row for row in result.history)
