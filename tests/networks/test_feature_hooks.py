"""FeatureHooks: named stage features of unmodified MONAI / project networks."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import DenseNet121, EfficientNetBN, resnet18

from monai_mcrecon.networks.blocks.feature_hooks import FeatureHooks
from monai_mcrecon.networks.nets.mc_cdic import MCCDic


def test_resnet18_stage_features_in_order_and_output_unchanged():
    torch.manual_seed(0)
    net = resnet18(spatial_dims=2, n_input_channels=3, num_classes=10).eval()
    hooked = FeatureHooks(net, ["layer1", "layer2", "layer3", "layer4"])
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        plain = net(x)
        out = hooked(x)
        out2, feats = hooked(x, return_features=True)
    assert torch.equal(out, plain) and torch.equal(out2, plain)
    assert [tuple(f.shape) for f in feats] == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8), (2, 512, 4, 4)]
    # the hooked tensors are the modules' outputs
    with torch.no_grad():
        assert torch.allclose(feats[3], net.layer4(feats[2]))
        assert torch.allclose(plain, net.fc(torch.flatten(net.avgpool(feats[3]), 1)))


def test_densenet121_and_efficientnet_work_without_editing_them():
    torch.manual_seed(0)
    dn = FeatureHooks(DenseNet121(spatial_dims=2, in_channels=1, out_channels=3), ["features.denseblock1", "features.transition2"])
    out, feats = dn(torch.rand(1, 1, 64, 64), return_features=True)
    assert out.shape == (1, 3) and [f.shape[1] for f in feats] == [256, 256]
    eff = FeatureHooks(EfficientNetBN("efficientnet-b0", spatial_dims=2, in_channels=3, num_classes=4, pretrained=False), ["_blocks.1", "_blocks.4"])
    out, feats = eff(torch.rand(1, 3, 64, 64), return_features=True)
    assert out.shape == (1, 4) and feats[0].shape[1] == 24 and feats[1].shape[1] == 112


def test_unknown_name_lists_the_available_and_closest_names():
    net = resnet18(spatial_dims=2, n_input_channels=3, num_classes=10)
    with pytest.raises(ValueError) as info:
        FeatureHooks(net, ["layer1", "layr3"])
    msg = str(info.value)
    assert "layr3" in msg and "closest: ['layer3'" in msg and "'layer4'" in msg and "'fc'" in msg
    with pytest.raises(ValueError, match="at least one"):
        FeatureHooks(net, [])
    with pytest.raises(ValueError, match="call must be"):
        FeatureHooks(net, ["fc"], call="all")


def test_module_called_several_times_keeps_the_last_or_first_call():
    torch.manual_seed(0)
    net = MCCDic.from_preset("tiny", num_steps=3).eval()
    x = torch.rand(1, 2, 16, 16)
    calls = []
    handle = net.decoder_x.register_forward_hook(lambda m, a, o: calls.append(o.clone()))
    with torch.no_grad():
        _, (last,) = FeatureHooks(net, ["decoder_x"])(x, return_features=True)
        _, (first,) = FeatureHooks(net, ["decoder_x"], call="first")(x, return_features=True)
    handle.remove()
    assert len(calls) == 4  # 2 updates per forward, two forwards
    assert torch.equal(last, calls[1]) and torch.equal(first, calls[2]) and not torch.equal(first, last)


def test_gradients_flow_through_hooked_features_and_remove_detaches_the_hooks():
    net = MCCDic.from_preset("tiny")
    hooked = FeatureHooks(net, ["fuse_x"])
    _, (f,) = hooked(torch.rand(1, 2, 16, 16), return_features=True)
    f.sum().backward()
    assert net.lift_x.weight.grad.abs().sum() > 0
    hooked.remove()
    assert not net.fuse_x._forward_hooks
    with pytest.raises(RuntimeError, match="remove"):
        hooked(torch.rand(1, 2, 16, 16))


def test_module_off_the_forward_path_is_reported():
    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x)

    with pytest.raises(RuntimeError, match=r"\['b'\] did not run"):
        FeatureHooks(Branchy(), ["a", "b"])(torch.rand(1, 2), return_features=True)
