"""Deep Richardson-Lucy: the tests of docs/models/deep_rl.md ('Tests') and the network contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from monai.losses import DeepSupervisionLoss

from monai_mcrecon.ops.blur import blur, blur_adjoint
from monai_mcrecon.networks.nets.deep_rl import DeepRL, DeepRLOutput, richardson_lucy_update

SCIPY_MODE = {"replicate": "nearest", "circular": "wrap", "reflect": "mirror", "constant": "constant"}


def _kernel(size: int = 7, batch: int = 1, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    k = torch.rand(batch, 1, size, size, generator=g, dtype=dtype)
    return k / k.sum(dim=(-2, -1), keepdim=True)


def _image(shape=(2, 3, 32, 28), seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype)


def _textbook_rl(blurred: np.ndarray, kernel: np.ndarray, init: np.ndarray, iters: int, mode: str) -> list[np.ndarray]:
    """Hand-written RL, I <- I * A^T(B / A I), with scipy.ndimage (independent of the project's blur)."""
    est = init.copy()
    out = []
    for _ in range(iters):
        for idx in np.ndindex(*est.shape[:-2]):
            ai = ndi.convolve(est[idx], kernel, mode=mode)
            est[idx] = est[idx] * ndi.correlate(blurred[idx] / ai, kernel, mode=mode)
        out.append(est.copy())
    return out


# --- 1. textbook RL ---------------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["replicate", "circular"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_rl_layer_with_prior_off_and_unit_map_is_textbook_rl(padding, dtype, tol):
    """M = 1, P = 0: five consecutive stages equal five hand-written RL iterations (scipy.ndimage)."""
    torch.manual_seed(0)
    k = _kernel(7, dtype=dtype)
    sharp = _image(dtype=dtype)
    blurred = blur(sharp, k, padding) + 0.01
    net = DeepRL(in_channels=3, num_stages=5, features=4, padding=padding).to(dtype)
    out = net.forward_stages(blurred, k.expand(2, 1, 7, 7), fixed_map=1.0, use_prior=False)
    b64 = blurred.double().numpy()
    ref = _textbook_rl(b64, k[0, 0].double().numpy(), np.maximum(b64, net.delta), 5, SCIPY_MODE[padding])
    for stage, expected in zip(out.stages, ref):
        err = np.abs(stage.double().numpy() - expected).max() / np.abs(expected).max()
        assert err < tol, err
    # and RL really deblurs: the fifth iterate is closer to the sharp image than the blurred one
    assert (out.image - sharp).abs().mean() < (blurred - sharp).abs().mean()


def test_several_rl_updates_per_stage_are_consecutive_textbook_iterations():
    k = _kernel(5)
    blurred = blur(_image(), k, "replicate") + 0.01
    net = DeepRL(num_stages=2, iterations_per_stage=3, features=4).double()
    out = net.forward_stages(blurred, k, fixed_map=1.0, use_prior=False)
    b64 = blurred.numpy()
    ref = _textbook_rl(b64, k[0, 0].numpy(), np.maximum(b64, net.delta), 6, "nearest")
    assert len(out.stages) == len(out.maps) == 2
    np.testing.assert_allclose(out.stages[0].numpy(), ref[2], rtol=1e-12)
    np.testing.assert_allclose(out.stages[1].numpy(), ref[5], rtol=1e-12)


def test_rl_update_matches_skimage_richardson_lucy_in_the_interior():
    """skimage.restoration.richardson_lucy (zero borders, start 0.5, additive eps 1e-12) vs the update with
    'constant' padding: the border conventions differ (skimage's denominator is 1, ours A^T 1), so compare
    pixels farther than iters * 2 * radius from the border, where they agree to 1e-10 (float64)."""
    from skimage.restoration import richardson_lucy

    k = _kernel(5, seed=3)
    img = _image((1, 1, 64, 60), seed=4)
    blurred = blur(img, k, "constant") + 0.02
    iters, r = 5, 2
    ref = richardson_lucy(blurred[0, 0].numpy(), k[0, 0].numpy(), num_iter=iters, clip=False)
    est = torch.full_like(blurred, 0.5)
    for _ in range(iters):
        est = richardson_lucy_update(est, blurred, k, padding="constant", eps=1e-30)
    m = 2 * r * iters
    inner = est[0, 0, m:-m, m:-m].numpy()
    np.testing.assert_allclose(inner, ref[m:-m, m:-m], rtol=1e-10, atol=0)
    # near the border the two conventions do differ (documents why only the interior is compared)
    assert np.abs(est[0, 0].numpy() - ref).max() > 1e-6


# --- 2. exact adjoint ---------------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["constant", "circular"])
def test_blur_adjoint_is_exact_for_per_sample_non_symmetric_kernels(padding):
    g = torch.Generator().manual_seed(5)
    k = torch.rand(3, 1, 5, 7, generator=g, dtype=torch.float64)  # non-symmetric, per sample
    x = torch.randn(3, 2, 17, 19, generator=g, dtype=torch.float64)
    y = torch.randn(3, 2, 17, 19, generator=g, dtype=torch.float64)
    lhs = (blur(x, k, padding) * y).sum()
    rhs = (x * blur_adjoint(y, k, padding)).sum()
    assert abs(lhs - rhs) / abs(lhs) < 1e-10


# --- 3. flux conservation, 4. fixed point, 5. delta kernel --------------------------------------


def test_flux_is_conserved_with_circular_border():
    k = _kernel(7, batch=2)
    blurred = blur(_image(), k, "circular") + 0.05
    net = DeepRL(num_stages=3, features=4, padding="circular").double()
    out = net.forward_stages(blurred, k, fixed_map=1.0, use_prior=False)
    for stage in out.stages:
        np.testing.assert_allclose(stage.sum(dim=(-2, -1)).numpy(), blurred.sum(dim=(-2, -1)).numpy(), rtol=1e-12)


def test_exact_blur_is_a_fixed_point():
    k = _kernel(7, batch=2)
    sharp = _image() + 0.1
    blurred = blur(sharp, k, "circular")
    updated = richardson_lucy_update(sharp, blurred, k, weight_map=1.0, prior=None, padding="circular")
    assert (updated - sharp).abs().max() < 1e-13


def test_delta_kernel_returns_the_observation():
    delta = torch.zeros(2, 1, 5, 5, dtype=torch.float64)
    delta[:, :, 2, 2] = 1.0
    blurred = _image() * 0.9 + 0.05  # > delta everywhere
    net = DeepRL(num_stages=2, features=4).double()
    out = net.forward_stages(blurred, delta, fixed_map=1.0, use_prior=False)
    for stage in out.stages:
        assert (stage - blurred).abs().max() < 1e-14


# --- 6. map scaling -----------------------------------------------------------------------------


def test_map_scales_the_update_and_leaves_the_numerator_unchanged():
    k = _kernel(7, batch=2)
    blurred = blur(_image(), k) + 0.02
    net = DeepRL(num_stages=1, features=4).double()
    one = net.forward_stages(blurred, k, fixed_map=1.0, use_prior=False).image
    for c in (0.25, 0.5, 0.8):
        scaled = net.forward_stages(blurred, k, fixed_map=c, use_prior=False).image
        np.testing.assert_allclose(scaled.numpy(), one.numpy() / c, rtol=1e-12)
    # numerator = I+ * A^T(M) / I does not depend on M: identical for two random maps, zero gradient w.r.t. MEN
    g = torch.Generator().manual_seed(2)
    init = blurred.clamp_min(net.delta)
    nums = []
    for _ in range(2):
        m = torch.rand(blurred.shape, generator=g, dtype=torch.float64) * 0.9 + 0.1
        out = net.forward_stages(blurred, k, fixed_map=m, use_prior=False).image
        nums.append(out * blur_adjoint(m, k, net.padding) / init)
    np.testing.assert_allclose(nums[0].numpy(), nums[1].numpy(), rtol=1e-12)
    out = net.forward_stages(blurred, k, use_prior=False)
    num = out.image * blur_adjoint(out.maps[0], k, net.padding) / init
    grads = torch.autograd.grad(num.sum(), list(net.men.parameters()), allow_unused=True, retain_graph=True)
    assert max(0.0 if gr is None else gr.abs().max().item() for gr in grads) < 1e-9
    # whereas the update itself does depend on MEN
    grads = torch.autograd.grad(out.image.sum(), list(net.men.parameters()))
    assert max(gr.abs().max().item() for gr in grads) > 1e-6


# --- 7. non-negativity, 8. gradients, 9. shapes --------------------------------------------------


def test_outputs_are_non_negative_for_random_weights_and_inputs():
    torch.manual_seed(3)
    net = DeepRL.from_preset("tiny", head_init_scale=1.0, map_bias_init=0.0, lambda_init=1.0)
    for p in net.pen.parameters():
        torch.nn.init.normal_(p, std=0.5)
    img = torch.rand(2, 3, 24, 24)
    img[:, :, :4] = 0.0  # exact zeros as in low-light images
    out = net.forward_stages(img, _kernel(7, batch=2, dtype=torch.float32))
    assert any((p < 0).any() for p in out.priors), "PEN should produce negative priors in this test"
    for stage in out.stages:
        assert torch.isfinite(stage).all() and (stage >= 0).all()


def test_gradients_reach_men_pen_and_every_lambda():
    torch.manual_seed(0)
    net = DeepRL.from_preset("tiny")
    sharp = torch.rand(2, 3, 24, 24)
    k = _kernel(7, batch=2, dtype=torch.float32)
    loss = (net(blur(sharp, k).clamp(0, 1), k) - sharp).abs().mean()
    assert torch.isfinite(loss)
    loss.backward()
    for name, module in (("men", net.men), ("pen", net.pen)):
        for t, sub in enumerate(module):
            g = sum(p.grad.abs().sum().item() for p in sub.parameters())
            assert g > 0, f"no gradient in {name}[{t}]"
    assert net.rho.grad is not None and (net.rho.grad.abs() > 0).all()


def test_shapes_stage_lists_and_map_range():
    net = DeepRL.from_preset("tiny")
    out = net.forward_stages(torch.rand(1, 3, 24, 24), _kernel(7, dtype=torch.float32))
    assert isinstance(out, DeepRLOutput)
    assert len(out.stages) == len(out.maps) == len(out.priors) == 2
    assert out.stages[-1] is out.image and out.image.shape == (1, 3, 24, 24)
    for m in out.maps:
        assert m.shape == (1, 3, 24, 24) and (m > 0).all() and (m < 1).all()
    # the untrained map starts near 1 and the prior near 0 (network close to classic RL at init)
    assert out.maps[0].mean() > 0.9
    np.testing.assert_allclose(net.lambdas.detach().numpy(), [0.01, 0.01], rtol=1e-6)


@pytest.mark.parametrize("estimator", ["cnn", "unet"])
def test_any_height_and_width(estimator):
    net = DeepRL(num_stages=2, features=4, estimator=estimator).eval()
    k = _kernel(5, dtype=torch.float32)
    for h, w in ((23, 31), (30, 17)):
        assert net(torch.rand(1, 3, h, w), k).shape == (1, 3, h, w)


def test_kernel_layouts_and_normalisation_are_equivalent():
    torch.manual_seed(0)
    net = DeepRL.from_preset("tiny").eval()
    img = torch.rand(2, 3, 24, 24)
    k = _kernel(7, batch=1, dtype=torch.float32)
    ref = net(img, k.expand(2, 1, 7, 7))
    for variant in (k[:, 0].expand(2, 7, 7), k[:, 0], k * 3.0):  # [B,kh,kw], shared [1,kh,kw], unnormalised
        assert (net(img, variant) - ref).abs().max() < 1e-6


def test_gray_images_and_share_weights():
    net = DeepRL(in_channels=1, num_stages=3, features=4, share_weights=True)
    assert len(net.men) == len(net.pen) == 1 and net.rho.shape == (3,)
    assert net(torch.rand(2, 1, 16, 16), _kernel(3, batch=2, dtype=torch.float32)).shape == (2, 1, 16, 16)


def test_parameter_count_follows_the_layer_shapes():
    def cnn(cin, cout, w):
        return (9 * cin * w + w) + 2 * (9 * w * w + w) + (9 * w * cout + cout)

    for preset, t, w in (("small", 3, 16), ("tiny", 2, 8), ("default", 3, 16)):
        net = DeepRL.from_preset(preset)
        expected = t * (cnn(9, 3, w) + cnn(3, 3, w)) + t
        assert sum(p.numel() for p in net.parameters()) == expected
    assert sum(p.numel() for p in DeepRL.from_preset("small").parameters()) == 35733


def test_deep_supervision_outputs_work_with_monai_loss():
    torch.manual_seed(0)
    net = DeepRL.from_preset("tiny", deep_supervision=True)
    img, k = torch.rand(2, 3, 24, 24), _kernel(7, batch=2, dtype=torch.float32)
    outs = net.train()(img, k)
    assert isinstance(outs, list) and len(outs) == 2
    stages = net.forward_stages(img, k).stages
    assert torch.equal(outs[0], stages[-1]) and torch.equal(outs[1], stages[0])
    loss = DeepSupervisionLoss(torch.nn.L1Loss(), weights=[1.0, 0.5])(outs, img)
    expected = (outs[0] - img).abs().mean() + 0.5 * (outs[1] - img).abs().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.is_tensor(net.eval()(img, k))


def test_max_value_bounds_the_estimate():
    net = DeepRL(num_stages=2, features=4, max_value=1.0, map_bias_init=-2.0)  # M ~ 0.12 brightens a lot
    out = net.forward_stages(torch.rand(1, 3, 16, 16) * 0.9 + 0.1, _kernel(3, dtype=torch.float32))
    assert out.image.max() <= 1.0
    free = DeepRL(num_stages=2, features=4, map_bias_init=-2.0).forward_stages(
        torch.rand(1, 3, 16, 16) * 0.9 + 0.1, _kernel(3, dtype=torch.float32))
    assert free.image.max() > 1.5


def test_presets():
    tiny = DeepRL.from_preset("tiny")
    assert tiny.num_stages == 2 and len(tiny.men) == 2
    assert DeepRL.from_preset("small", num_stages=4).num_stages == 4
    with pytest.raises(ValueError, match="Unknown preset"):
        DeepRL.from_preset("huge")


@pytest.mark.parametrize(
    "build,call,match",
    [
        (dict(out_channels=1), None, "must equal"),
        (dict(estimator="transformer"), None, "'cnn' or 'unet'"),
        (dict(padding="wrap"), None, "padding"),
        (dict(num_stages=0), None, "at least one stage"),
        (dict(iterations_per_stage=0), None, "at least one RL update"),
        ({}, (torch.rand(3, 24, 24), torch.ones(1, 3, 3)), "image\\[None\\]"),
        ({}, (torch.rand(1, 1, 24, 24), torch.ones(1, 3, 3)), "in_channels=1"),
        ({}, (torch.rand(2, 3, 24, 24), torch.ones(3, 1, 3, 3)), "batch size"),
        ({}, (torch.rand(1, 3, 24, 24), torch.ones(1, 2, 3, 3)), "kernel must be"),
        ({}, (torch.rand(1, 3, 24, 24), -torch.ones(1, 3, 3)), "negative"),
        ({}, (torch.rand(1, 3, 24, 24), torch.zeros(1, 3, 3)), "sums to 0"),
        ({}, (torch.rand(1, 3, 24, 24), torch.ones(1, 4, 4)), "odd"),
    ],
)
def test_bad_input_raises_clear_errors(build, call, match):
    with pytest.raises(ValueError, match=match):
        net = DeepRL(**{"num_stages": 1, "features": 4, **build})
        net(*call)
