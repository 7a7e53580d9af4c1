"""MultiIOTrainer / PrepareMultiInput / select_output with a two-input, dict-output network."""

from __future__ import annotations

import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedEvaluator
from ignite.engine import Events
from ignite.metrics import Average

from monai_mcrecon.engines.multi_io import (
    MultiIOEvaluator,
    MultiIOTrainer,
    PrepareMultiInput,
    loss_terms_transform,
    select_output,
)


class TwoViewNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.0))
        self.b = torch.nn.Parameter(torch.tensor(0.0))

    def forward(self, left, right, scale=None):
        s = 1.0 if scale is None else scale.view(-1, 1, 1, 1)
        return {"left": self.a * left * s, "right": self.b * right * s}


def two_term_loss(pred, target):
    l = ((pred["left"] - target["left_hr"]) ** 2).mean()
    r = ((pred["right"] - target["right_hr"]) ** 2).mean()
    return {"loss": l + r, "left": l, "right": r}


def make_data(n=8):
    g = torch.Generator().manual_seed(0)
    items = []
    for _ in range(n):
        x, y = torch.rand(1, 4, 4, generator=g), torch.rand(1, 4, 4, generator=g)
        items.append({"left": x, "right": y, "left_hr": 2 * x, "right_hr": -1 * y, "scale": torch.tensor(1.0)})
    return items


def test_prepare_multi_input_calls_network_with_positional_and_keyword_inputs():
    batch = {"left": torch.ones(2, 1, 3, 3), "right": torch.zeros(2, 1, 3, 3), "left_hr": torch.ones(2, 1, 3, 3),
             "scale": torch.tensor([2.0, 3.0])}
    inputs, target, args, kwargs = PrepareMultiInput(["left", "right"], "left_hr", {"scale": "scale"})(batch)
    assert inputs is batch["left"] and args[0] is batch["right"] and kwargs["scale"] is batch["scale"]
    assert torch.equal(target, batch["left_hr"])
    _, target, _, _ = PrepareMultiInput(["left", "right"], ["left_hr", "missing_ok"])(batch)
    assert set(target) == {"left_hr"}
    with pytest.raises(KeyError, match="has no key 'view'"):
        PrepareMultiInput(["left", "view"], "left_hr")(batch)


def test_trainer_learns_two_outputs_and_records_named_terms():
    torch.manual_seed(0)
    net = TwoViewNet()
    loader = DataLoader(Dataset(make_data()), batch_size=4)
    trainer = MultiIOTrainer(
        device=torch.device("cpu"), max_epochs=60, train_data_loader=loader, network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.5), loss_function=two_term_loss,
        input_keys=["left", "right"], target_keys=["left_hr", "right_hr"], kwarg_keys={"scale": "scale"},
    )
    terms = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: terms.append(loss_terms_transform(e.state.output)))
    trainer.run()
    # a train handler (attached by the trainer itself) sees the terms of the same iteration
    seen = []

    class Recorder:
        def attach(self, engine):
            engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(loss_terms_transform(e.state.output)))

    net2 = TwoViewNet()
    MultiIOTrainer(
        device=torch.device("cpu"), max_epochs=1, train_data_loader=loader, network=net2,
        optimizer=torch.optim.SGD(net2.parameters(), lr=0.5), loss_function=two_term_loss,
        input_keys=["left", "right"], target_keys=["left_hr", "right_hr"], train_handlers=[Recorder()],
    ).run()
    assert len(seen) == 2 and all(set(t) == {"loss", "left", "right"} for t in seen)
    assert set(terms[-1]) == {"loss", "left", "right"}
    assert abs(terms[-1]["loss"] - terms[-1]["left"] - terms[-1]["right"]) < 1e-6
    assert terms[-1]["loss"] < 1e-3 * terms[0]["loss"]
    assert abs(net.a.item() - 2.0) < 0.05 and abs(net.b.item() + 1.0) < 0.05


def test_tensor_loss_and_missing_total_key():
    net = TwoViewNet()
    loader = DataLoader(Dataset(make_data(4)), batch_size=4)
    trainer = MultiIOTrainer(
        device=torch.device("cpu"), max_epochs=1, train_data_loader=loader, network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        loss_function=lambda p, t: ((p["left"] - t) ** 2).mean(), input_keys=["left", "right"], target_keys="left_hr",
    )
    trainer.run()
    assert set(loss_terms_transform(trainer.state.output)) == {"loss"}
    bad = MultiIOTrainer(
        device=torch.device("cpu"), max_epochs=1, train_data_loader=loader, network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        loss_function=lambda p, t: {"total": ((p["left"] - t) ** 2).mean()}, input_keys=["left", "right"],
        target_keys="left_hr",
    )
    with pytest.raises(KeyError, match="under 'loss'"):
        bad.run()


def test_evaluator_metric_with_select_output():
    net = TwoViewNet()
    with torch.no_grad():
        net.a.fill_(2.0)
        net.b.fill_(0.0)
    loader = DataLoader(Dataset(make_data(6)), batch_size=3)
    evaluator = MultiIOEvaluator(
        device=torch.device("cpu"), val_data_loader=loader, network=net, input_keys=["left", "right"],
        target_keys=["left_hr", "right_hr"], decollate=False,
    )
    assert isinstance(evaluator, SupervisedEvaluator)
    mse = Average(output_transform=lambda o: (lambda p, y: ((p - y) ** 2).mean())(*select_output("left", "left_hr")(o)))
    mse.attach(evaluator, "mse_left")
    mse_r = Average(output_transform=lambda o: (lambda p, y: ((p - y) ** 2).mean())(*select_output("right", "right_hr")(o)))
    mse_r.attach(evaluator, "mse_right")
    evaluator.run()
    assert evaluator.state.metrics["mse_left"] < 1e-12
    assert evaluator.state.metrics["mse_right"] > 0.05
    decollated = [{"pred": {"left": torch.ones(1)}, "label": {"left_hr": torch.zeros(1)}}] * 2
    p, y = select_output("left", "left_hr")(decollated)
    assert len(p) == 2 and torch.equal(p[0], torch.ones(1)) and torch.equal(y[1], torch.zeros(1))
    with pytest.raises(KeyError, match="no entry 'middle'"):
        select_output("middle")(decollated)
