"""Contrastive regularisation and the CLGNet (reconstructed) loss.

See docs/models/clgnet.md, 'Contrastive loss' and 'Tests'.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from monai_mcrecon.losses import CLGNetLoss, ContrastiveRegularization, PyramidFeatures, VGG19Features
from monai_mcrecon.networks.nets.clgnet import CLGNet


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class CountingConv(torch.nn.Module):
    """A user extractor with parameters, batch norm and a call counter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.calls += 1
        h = self.norm(self.conv(x))
        return [h, F.avg_pool2d(h, 2)]


# ---------------------------------------------------------------------------- pyramid features


def test_pyramid_is_weight_free_and_deterministic():
    pyramid = PyramidFeatures(num_scales=3)
    assert count_parameters(pyramid) == 0
    assert [n for n, _ in pyramid.named_buffers()] == ["filters"]
    x = rand(2, 2, 33, 47)
    first, second = pyramid(x), PyramidFeatures(num_scales=3)(x)
    assert [f.shape for f in first] == [(2, 8, 33, 47), (2, 8, 16, 23), (2, 8, 8, 11)]
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_pyramid_bands_are_intensity_gradients_and_laplacian():
    ramp = torch.arange(12, dtype=torch.float64).expand(1, 1, 10, 12)  # f(i, j) = j
    level0, level1 = PyramidFeatures(num_scales=2)(ramp)
    intensity, gx, gy, lap = level0[0, :, 1:-1, 1:-1]
    torch.testing.assert_close(intensity, ramp[0, 0, 1:-1, 1:-1])
    torch.testing.assert_close(gx, torch.ones_like(gx))  # d/dj of j
    torch.testing.assert_close(gy, torch.zeros_like(gy))
    torch.testing.assert_close(lap, torch.zeros_like(lap))
    # scale 1 is the 2x2 Haar approximation: columns j = 0.5, 2.5, ...; gradient 2 per coarse pixel
    torch.testing.assert_close(level1[0, 0, 0], torch.arange(6, dtype=torch.float64) * 2 + 0.5)
    torch.testing.assert_close(level1[0, 1, 1:-1, 1:-1], torch.full((3, 4), 2.0, dtype=torch.float64))


def test_pyramid_rejects_images_too_small_for_its_scales():
    with pytest.raises(ValueError, match="too small"):
        PyramidFeatures(num_scales=4)(torch.rand(1, 1, 7, 32))


# ---------------------------------------------------------------------------- contrastive term


def test_cr_is_the_weighted_ratio_of_l1_distances():
    pred, target, negative = rand(2, 1, 8, 9, seed=1), rand(2, 1, 8, 9, seed=2), rand(2, 1, 8, 9, seed=3)
    cr = ContrastiveRegularization(Identity(), weights=[2.0], eps=1e-7)
    expected = 2.0 * (pred - target).abs().mean() / ((pred - negative).abs().mean() + 1e-7)
    torch.testing.assert_close(cr(pred, target, negative), expected, rtol=1e-12, atol=0)
    assert cr.extractor_name == "Identity"


def test_cr_pyramid_sums_the_levels():
    pred, target, negative = rand(1, 1, 16, 16, seed=1), rand(1, 1, 16, 16, seed=2), rand(1, 1, 16, 16, seed=3)
    cr = ContrastiveRegularization("pyramid")
    levels = PyramidFeatures()
    expected = sum(
        0.25 * F.l1_loss(a, p) / (F.l1_loss(a, n) + 1e-7)
        for a, p, n in zip(levels(pred), levels(target), levels(negative))
    )
    torch.testing.assert_close(cr(pred, target, negative), expected, rtol=1e-12, atol=0)
    assert cr.extractor_name == "pyramid" and cr.weights == (0.25,) * 4


@pytest.mark.parametrize("extractor", ["pyramid", "identity"])
def test_cr_is_smaller_at_the_target_than_at_the_input(extractor):
    target = rand(2, 1, 32, 32, seed=4)
    negative = target + 0.1 * rand(2, 1, 32, 32, seed=5)  # the zero-filled input
    cr = ContrastiveRegularization(Identity() if extractor == "identity" else extractor)
    at_target, at_negative = cr(target, target, negative), cr(negative, target, negative)
    halfway = cr(0.5 * (target + negative), target, negative)
    assert at_target == 0
    assert at_target < halfway < at_negative


def test_gradients_reach_the_network_not_the_extractor():
    torch.manual_seed(0)
    net = CLGNet.from_preset("tiny").double()
    extractor = CountingConv().double()
    loss_fn = CLGNetLoss(beta=0.1, extractor=extractor)
    target = rand(2, 1, 16, 16, seed=6).requires_grad_(True)
    x = (target + 0.2 * rand(2, 1, 16, 16, seed=7)).detach().requires_grad_(True)
    loss = loss_fn(net(x), torch.cat([target, x], 1))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    assert all(not p.requires_grad and p.grad is None for p in extractor.parameters())
    assert all(b.grad is None for b in extractor.buffers())
    # the positive is detached in the contrastive term: the target gets the L1 gradient alone
    l1_grad = torch.autograd.grad(F.l1_loss(net(x), target), target)[0]
    torch.testing.assert_close(target.grad, l1_grad, rtol=1e-12, atol=1e-15)


def test_pyramid_extractor_has_no_gradients_or_parameters():
    cr = ContrastiveRegularization("pyramid")
    pred = rand(1, 1, 16, 16, seed=8).requires_grad_(True)
    cr(pred, rand(1, 1, 16, 16, seed=9), rand(1, 1, 16, 16, seed=10)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert count_parameters(cr) == 0
    assert all(not b.requires_grad and b.grad is None for b in cr.extractor.buffers())


def test_user_extractor_is_frozen_and_stays_in_eval_mode():
    extractor = CountingConv()
    cr = ContrastiveRegularization(extractor)
    cr.train()
    assert cr.training and not extractor.training and not extractor.norm.training
    assert all(not p.requires_grad for p in extractor.parameters())
    running = extractor.norm.running_mean.clone()
    cr(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    torch.testing.assert_close(extractor.norm.running_mean, running, rtol=0, atol=0)
    assert cr.extractor_name == "CountingConv"


def test_weights_must_match_the_levels():
    cr = ContrastiveRegularization(CountingConv(), weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="3 weights given for 2 feature levels"):
        cr(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_unknown_extractor_is_rejected():
    with pytest.raises(ValueError, match="pyramid"):
        ContrastiveRegularization("resnet50")


# ---------------------------------------------------------------------------- VGG19


@pytest.mark.parametrize("path", [None, "missing/vgg19.pth"])
def test_vgg19_without_weights_file_is_an_error_not_a_fallback(path, tmp_path):
    where = None if path is None else tmp_path / path
    with pytest.raises(FileNotFoundError, match="vgg_weights_path.*never downloaded.*extractor='pyramid'"):
        ContrastiveRegularization("vgg19", vgg_weights_path=where)
    with pytest.raises(FileNotFoundError, match="pyramid"):
        CLGNetLoss(extractor="vgg19", vgg_weights_path=where)


def test_vgg19_from_a_local_torchvision_state_dict(tmp_path):
    torch.manual_seed(0)
    vgg = torchvision.models.vgg19(weights=None).eval()
    full, features_only = tmp_path / "vgg19_full.pth", tmp_path / "vgg19_features.pth"
    torch.save(vgg.state_dict(), full)
    torch.save(vgg.features.state_dict(), features_only)
    x = torch.rand(2, 1, 32, 32)
    rgb = (x.expand(-1, 3, -1, -1) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    with torch.no_grad():
        relu5_1 = vgg.features[:30](rgb)
    for path in (full, features_only):
        cr = ContrastiveRegularization("vgg19", vgg_weights_path=path)
        assert cr.extractor_name == "vgg19" and cr.weights == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
        with torch.no_grad():
            levels = cr.extractor(x)
        assert [f.shape[1] for f in levels] == [64, 128, 256, 512, 512]
        torch.testing.assert_close(levels[-1], relu5_1)
        pred = x.clone().requires_grad_(True)
        value = cr(pred, torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))
        value.backward()
        assert torch.isfinite(value) and pred.grad.abs().sum() > 0
        assert count_parameters(cr) > 0 and all(not p.requires_grad for p in cr.parameters())
    assert isinstance(cr.extractor, VGG19Features)


# ---------------------------------------------------------------------------- CLGNetLoss


def test_clgnet_loss_with_beta_zero_is_l1_and_never_calls_the_extractor():
    extractor = CountingConv().double()
    loss_fn = CLGNetLoss(beta=0.0, extractor=extractor)
    pred, target, negative = rand(2, 1, 8, 8, seed=1), rand(2, 1, 8, 8, seed=2), rand(2, 1, 8, 8, seed=3)
    loss = loss_fn(pred, torch.cat([target, negative], 1))
    torch.testing.assert_close(loss, F.l1_loss(pred, target), rtol=0, atol=0)
    assert extractor.calls == 0


@pytest.mark.parametrize("channels", [1, 2])
def test_clgnet_loss_is_l1_plus_beta_cr(channels):
    pred, target, negative = (rand(2, channels, 16, 16, seed=s) for s in (1, 2, 3))
    loss_fn = CLGNetLoss(beta=0.1)
    expected = F.l1_loss(pred, target) + 0.1 * ContrastiveRegularization("pyramid")(pred, target, negative)
    torch.testing.assert_close(loss_fn(pred, torch.cat([target, negative], 1)), expected, rtol=1e-12, atol=0)
    assert loss_fn.extractor_name == "pyramid"


def test_clgnet_loss_needs_target_and_negative_in_the_label():
    with pytest.raises(ValueError, match=r"expected \(2, 2, 8, 8\)"):
        CLGNetLoss()(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="beta"):
        CLGNetLoss(beta=-0.1)
