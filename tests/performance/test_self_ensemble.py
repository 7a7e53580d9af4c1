"""SelfEnsembleInferer: the flip / input-swap average of a network, checked against hand-computed outputs."""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.inference import SelfEnsembleInferer
from monai_mcrecon.networks.nets.fgdcn import FGDCN


def _ramp(h: int = 6, w: int = 8) -> torch.Tensor:
    return torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w)


def test_swap_of_a_network_returning_its_first_frame_gives_the_frame_average():
    a, b = torch.rand(2, 3, 8, 10), torch.rand(2, 3, 8, 10)
    out = SelfEnsembleInferer(flips=(), swap_inputs=True)(a, lambda x, y: x, b)
    torch.testing.assert_close(out, (a + b) / 2)


def test_swap_of_a_stacked_two_frame_input_reverses_dim_1():
    frames = torch.rand(2, 2, 3, 8, 10)
    out = SelfEnsembleInferer(flips=("h",), swap_inputs=True)(frames, lambda x: x[:, 0] * 2 + x[:, 1])
    # first frame x2 plus second, averaged with the swapped order: 1.5 (a + b); flips commute with it
    torch.testing.assert_close(out, 1.5 * (frames[:, 0] + frames[:, 1]))


def test_flips_undo_themselves_for_a_position_dependent_network():
    # network adds a fixed ramp (not flip-equivariant): each pass adds the ramp flipped back
    ramp = _ramp()
    x = torch.zeros(1, 1, 6, 8)
    out = SelfEnsembleInferer(flips=("h", "v", "hv"))(x, lambda t: t + ramp)
    expected = (ramp + ramp.flip(-1) + ramp.flip(-2) + ramp.flip((-2, -1))) / 4
    torch.testing.assert_close(out, expected)
    assert SelfEnsembleInferer(flips=("h", "v", "hv")).num_passes == 4


def test_equivariant_symmetric_network_is_unchanged():
    a, b = torch.rand(1, 3, 8, 12), torch.rand(1, 3, 8, 12)
    inferer = SelfEnsembleInferer(flips=("h", "v"), swap_inputs=True)
    assert inferer.num_passes == 6
    torch.testing.assert_close(inferer(a, lambda x, y: 0.5 * (x + y) ** 2, b), 0.5 * (a + b) ** 2)


def test_fgdcn_self_ensemble_shape_and_range():
    torch.manual_seed(0)
    net = FGDCN.from_preset("tiny").eval()
    a, b = torch.rand(1, 3, 20, 24), torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        plain = net(a, b)
        out = SelfEnsembleInferer(flips=("h",), swap_inputs=True)(a, net, b)
        swapped = net(b, a)
        h = net(a.flip(-1), b.flip(-1)).flip(-1)
        hs = net(b.flip(-1), a.flip(-1)).flip(-1)
    assert out.shape == plain.shape == (1, 3, 20, 24)
    torch.testing.assert_close(out, (plain + swapped + h + hs) / 4)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Unknown flips"):
        SelfEnsembleInferer(flips=("x",))
    with pytest.raises(ValueError, match="needs two frames"):
        SelfEnsembleInferer(swap_inputs=True)(torch.zeros(1, 1, 4, 4), lambda t: t)
    with pytest.raises(TypeError, match="tensor outputs"):
        SelfEnsembleInferer(flips=())(torch.zeros(1, 1, 4, 4), lambda t: {"rec": t})


@pytest.mark.parametrize("bundle", ["mc_cdic_recon", "mc_cdic_sr", "clgnet_recon"])
def test_mri_bundles_average_in_plane_flips_of_every_slice_on_request(bundle):
    from monai.bundle import ConfigParser

    from monai_mcrecon.bundle.locate import bundle_dir, config_files

    parser = ConfigParser()
    parser.read_config([str(f) for f in config_files(bundle_dir(bundle), "inference.json")])
    assert parser.get_parsed_content("inferer").inferer is parser.get_parsed_content("slice_inferer")  # off by default
    parser = ConfigParser()
    parser.read_config([str(f) for f in config_files(bundle_dir(bundle), "inference.json")])
    parser["self_ensemble"] = "true"
    inferer = parser.get_parsed_content("inferer").inferer
    assert isinstance(inferer, SelfEnsembleInferer) and inferer.flips == ("h", "v", "hv")
    # on a volume [B, C, D, H, W] the flips act in-plane (H, W), slice by slice through the slice inferer
    ramp = torch.arange(2 * 5 * 6, dtype=torch.float32).view(1, 1, 2, 5, 6)
    out = inferer(torch.zeros_like(ramp), lambda t: t + ramp[:, :, 0])
    expected = (ramp + ramp.flip(-1) + ramp.flip(-2) + ramp.flip((-2, -1)))[:, :, :1].expand_as(ramp) / 4
    torch.testing.assert_close(out, expected)
