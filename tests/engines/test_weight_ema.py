"""WeightEMA: ignite's EMAHandler whose average restarts from the weights the network has when the trainer starts."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events

from monai_mcrecon.handlers.checkpoint import WeightEMA


def _trainer(net: torch.nn.Linear, steps: list[float]) -> Engine:
    """Each iteration sets the weight to the next value of ``steps`` (a stand-in for an optimizer step)."""

    def step(engine, _):
        with torch.no_grad():
            net.weight.fill_(steps[engine.state.iteration - 1])
            net.bias.fill_(-steps[engine.state.iteration - 1])

    return Engine(step)


@pytest.mark.parametrize("momentum", [0.5, 0.1])
def test_average_starts_from_the_weights_loaded_at_start_and_follows_the_update_rule(momentum):
    net = torch.nn.Linear(2, 1)
    ema = WeightEMA(net, momentum=momentum)  # copies the random initial weights here
    steps = [1.0, 2.0, 4.0]
    trainer = _trainer(net, steps)
    # a checkpoint loader attached before the EMA handler loads 10.0 when the run starts
    trainer.add_event_handler(Events.STARTED, lambda e: net.weight.data.fill_(10.0))
    ema.attach(trainer)
    trainer.run([0] * len(steps), max_epochs=1)
    expected = 10.0
    for w in steps:
        expected = (1 - momentum) * expected + momentum * w
    assert torch.allclose(ema.ema_model.weight, torch.full((1, 2), expected))
    assert torch.equal(net.weight, torch.full((1, 2), 4.0))  # the trained network itself is untouched
    assert not any(p.requires_grad for p in ema.ema_model.parameters())


def test_without_the_restart_ignites_average_would_keep_the_initial_weights():
    net = torch.nn.Linear(2, 1)
    initial = net.weight.detach().clone()
    ema = WeightEMA(net, momentum=1e-6)
    trainer = _trainer(net, [1.0])
    trainer.add_event_handler(Events.STARTED, lambda e: net.weight.data.fill_(10.0))
    ema.attach(trainer)
    trainer.run([0], max_epochs=1)
    assert torch.allclose(ema.ema_model.weight, torch.full((1, 2), 10.0), atol=1e-4)
    assert not torch.allclose(ema.ema_model.weight, initial, atol=1.0)
