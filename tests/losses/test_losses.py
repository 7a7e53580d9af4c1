import pytest
import torch

from monai_mcrecon.losses import ReferenceWeightedL1Loss


def _pair(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=torch.float64), torch.rand(*shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("weight", [0.1, 0.0, 2.5])
def test_loss_is_target_l1_plus_weighted_reference_l1(weight):
    pred, label = _pair((2, 2, 8, 9))
    expected = (pred[:, 0] - label[:, 0]).abs().mean() + weight * (pred[:, 1] - label[:, 1]).abs().mean()
    loss = ReferenceWeightedL1Loss(reference_weight=weight)(pred, label)
    assert loss.ndim == 0
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)


def test_several_target_channels():
    pred, label = _pair((2, 3, 6, 6), seed=1)
    expected = (pred[:, :2] - label[:, :2]).abs().mean() + 0.1 * (pred[:, 2] - label[:, 2]).abs().mean()
    loss = ReferenceWeightedL1Loss(reference_weight=0.1, target_channels=2)(pred, label)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)


def test_target_only_prediction_is_plain_l1():
    pred, label = _pair((2, 2, 8, 8), seed=2)
    loss = ReferenceWeightedL1Loss(reference_weight=0.1)(pred[:, :1], label)
    torch.testing.assert_close(loss, torch.nn.functional.l1_loss(pred[:, :1], label[:, :1]), rtol=1e-12, atol=0)
    # and the reference channel of the label does not enter
    label[:, 1] += 100
    torch.testing.assert_close(ReferenceWeightedL1Loss()(pred[:, :1], label), loss, rtol=1e-12, atol=0)


def test_gradient_flows_to_both_channels():
    pred, label = _pair((1, 2, 4, 4), seed=3)
    pred.requires_grad_(True)
    ReferenceWeightedL1Loss(reference_weight=0.5)(pred, label).backward()
    # d/dp mean|p - l| = sign(p - l) / N, N = 16 pixels per channel
    torch.testing.assert_close(pred.grad[:, 0], torch.sign(pred - label).detach()[:, 0] / 16)
    torch.testing.assert_close(pred.grad[:, 1], 0.5 * torch.sign(pred - label).detach()[:, 1] / 16)


def test_mismatched_shapes_raise():
    loss = ReferenceWeightedL1Loss()
    with pytest.raises(ValueError, match=r"\(1, 2, 8, 8\).*\(1, 2, 8, 9\)"):
        loss(torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8, 9))
    with pytest.raises(ValueError, match="do not match"):
        loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 8))


def test_negative_weight_raises():
    with pytest.raises(ValueError, match=">= 0"):
        ReferenceWeightedL1Loss(reference_weight=-0.1)
