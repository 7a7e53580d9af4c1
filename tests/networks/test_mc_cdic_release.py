"""Loading weights trained with the authors' MC-CDic release (:mod:`monai_mcrecon.networks.nets.mc_cdic_release`).

No release checkpoint is available offline, so the tests build a stand-in: a small network with the
release's module tree (attribute names, nesting, tied adjoint weights, the plain-list adjoint
up-blocks that its state dict leaves out, the 1x1-convolution channel attention, the unused
``decoder``) and the release's forward pass, written from the project's description of the release
(module docstring of ``mc_cdic.py``). Its random weights are converted, loaded with ``strict=True``,
and checked value by value and through the forward pass.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.networks.blocks.dictionary import power_iteration
from monai_mcrecon.networks.nets import MCCDic
from monai_mcrecon.networks.nets.mc_cdic_release import (
    convert_release_state_dict,
    infer_release_kwargs,
    load_release_checkpoint,
    main,
    read_release_state_dict,
)

# distinct widths per scale so that a level or scale mix-up changes a shape
CONFIG = {"widths": (16, 12, 8), "features": 8, "num_steps": 3, "rcabs_per_scale": (1, 2, 1), "reduction": 4, "kernel_size": 3}
TINY = {"widths": (8, 8, 8), "features": 8, "num_steps": 2, "rcabs_per_scale": (1, 1, 1), "reduction": 8, "kernel_size": 3}


# --------------------------------------------------------------------------------------------------
# the stand-in: the release's module names and forward pass
# --------------------------------------------------------------------------------------------------


class _OutConv(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)


class _UpBlock(nn.Module):
    def __init__(self, k: int, w_prev: int, w: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(w_prev, w, 2, stride=2, bias=False)
        self.conv = nn.Conv2d(2 * w, w, k, padding=k // 2, bias=False)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(coarse)], dim=1))


class _Dictionary(nn.Module):
    def __init__(self, k: int, widths: tuple[int, ...], n_out: int) -> None:
        super().__init__()
        self.bottleneck_conv = nn.Conv2d(widths[0], widths[0], k, padding=k // 2, bias=False)
        self.syn_up_list = nn.Sequential(*(_UpBlock(k, a, b) for a, b in zip(widths, widths[1:])))
        self.syn_outc = _OutConv(widths[-1], n_out)

    def forward(self, codes: list[torch.Tensor]) -> torch.Tensor:
        t = self.bottleneck_conv(codes[0])
        for block, skip in zip(self.syn_up_list, codes[1:]):
            t = block(t, skip)
        return self.syn_outc.conv(t)


class _TransposeOf(nn.Module):
    """Holds a transposed convolution whose weight *is* ``conv``'s (the release's weight tying)."""

    def __init__(self, conv: nn.Conv2d, attr: str) -> None:
        super().__init__()
        layer = nn.ConvTranspose2d(conv.out_channels, conv.in_channels, conv.kernel_size, padding=conv.kernel_size[0] // 2, bias=False)
        layer.weight = conv.weight
        setattr(self, attr, layer)


class _AdjointUp:
    """Deliberately not an ``nn.Module`` entry of a ``ModuleList``: the release keeps these in a plain list."""

    def __init__(self, block: _UpBlock) -> None:
        self.adjoint_conv_op = _TransposeOf(block.conv, "transpose_conv")
        self.adjoint_up = nn.Conv2d(block.up.out_channels, block.up.in_channels, 2, stride=2, bias=False)
        self.adjoint_up.weight = block.up.weight
        self.skip_channels = block.up.out_channels

    def __call__(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.adjoint_conv_op.transpose_conv(t)
        return self.adjoint_up(t[:, self.skip_channels :]), t[:, : self.skip_channels]


class _AdjointDictionary(nn.Module):
    def __init__(self, d: _Dictionary) -> None:
        super().__init__()
        self.adjoint_syn_outc = _TransposeOf(d.syn_outc.conv, "adjoint_conv")
        self.adjoint_syn_bottleneck_conv = _TransposeOf(d.bottleneck_conv, "transpose_conv")
        self.adjoint_syn_up_list = [_AdjointUp(b) for b in d.syn_up_list]

    def forward(self, v: torch.Tensor) -> list[torch.Tensor]:
        t = self.adjoint_syn_outc.adjoint_conv(v)
        codes = []
        for up in reversed(self.adjoint_syn_up_list):
            t, skip = up(t)
            codes.append(skip)
        codes.append(self.adjoint_syn_bottleneck_conv.transpose_conv(t))
        return codes[::-1]


class _CALayer(nn.Module):
    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(nn.Conv2d(c, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, c, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class _RCAB(nn.Module):
    def __init__(self, c: int, k: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2), nn.ReLU(True), nn.Conv2d(c, c, k, padding=k // 2), _CALayer(c, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class _Group(nn.Module):
    def __init__(self, c: int, k: int, n: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*[_RCAB(c, k, hidden) for _ in range(n)], nn.Conv2d(c, c, k, padding=k // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Ista(nn.Module):
    def __init__(self, widths, features, num_steps, rcabs_per_scale, reduction, kernel_size) -> None:
        super().__init__()
        k, n = kernel_size, features
        self.num_steps = num_steps
        for v in ("x", "y", "z"):
            setattr(self, f"encoder_dictionary_{v}", _Dictionary(k, widths, n))
            setattr(self, f"precond_encoder_dictionary_{v}", _Dictionary(k, widths, n))
            setattr(self, f"adjoint_encoder_dictionary_{v}", _AdjointDictionary(getattr(self, f"precond_encoder_dictionary_{v}")))
            setattr(self, f"decoder_dictionary_{v}", _Dictionary(k, widths, 2 if v == "z" else n))
            hidden = [w // min(reduction, w) for w in widths]
            setattr(self, f"resnet_{v}", nn.ModuleList(_Group(w, k, r, h) for w, r, h in zip(widths, rcabs_per_scale, hidden)))
        self.encoder_dictionary_zx = _Dictionary(k, widths, n)
        self.encoder_dictionary_zy = _Dictionary(k, widths, n)
        self.layer_in_x = nn.Conv2d(1, n, 3, 1, 1)
        self.layer_in_y = nn.Conv2d(1, n, 3, 1, 1)
        self.layer_in_z = nn.Conv2d(2, n, 3, 1, 1)
        self.relu = nn.ReLU()
        self.cpmpress_z = nn.Conv2d(2 * n, n, 3, 1, 1)
        self.rec_x_unique = nn.Conv2d(n, 1, 3, 1, 1)
        self.rec_y_unique = nn.Conv2d(n, 1, 3, 1, 1)
        self.HFF_fuse_x = nn.Conv2d(n * (num_steps - 1), n, 1, 1)
        self.HFF_fuse_y = nn.Conv2d(n * (num_steps - 1), n, 1, 1)
        # outside the state dict, as in the release: set by the test from the converted network
        self.eta: dict[str, torch.Tensor] = {}
        self.lam: dict[str, list[torch.Tensor]] = {}

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def shrink(codes, v):
            eta = self.eta[v][0]
            return [F.relu(eta * c - F.relu(eta * lam)) for c, lam in zip(codes, self.lam[v])]

        x_in, y_in, z_in = self.layer_in_x(x), self.layer_in_y(y), self.layer_in_z(z)
        xD = self.adjoint_encoder_dictionary_x(x_in)
        yH = self.adjoint_encoder_dictionary_y(y_in)
        a_x, a_y = shrink(xD, "x"), shrink(yH, "y")
        a_z = shrink(self.adjoint_encoder_dictionary_z(z_in), "z")
        hff_x, hff_y = [], []
        for k in range(1, self.num_steps):
            g_x = self.adjoint_encoder_dictionary_x(self.encoder_dictionary_x(a_x) + self.encoder_dictionary_zx(a_z))
            g_y = self.adjoint_encoder_dictionary_y(self.encoder_dictionary_y(a_y) + self.encoder_dictionary_zy(a_z))
            a_x = [r(self.relu(a - self.eta["x"][k] * (g - d))) for r, a, g, d in zip(self.resnet_x, a_x, g_x, xD)]
            a_y = [r(self.relu(a - self.eta["y"][k] * (g - d))) for r, a, g, d in zip(self.resnet_y, a_y, g_y, yH)]
            u_x, u_y = self.decoder_dictionary_x(a_x), self.decoder_dictionary_y(a_y)
            hff_x.append(u_x)
            hff_y.append(u_y)
            zt = self.cpmpress_z(torch.cat([x_in - u_x, y_in - u_y], 1))
            g_z = self.adjoint_encoder_dictionary_z(self.encoder_dictionary_z(a_z) - zt)
            a_z = [r(self.relu(a - self.eta["z"][k] * g)) for r, a, g in zip(self.resnet_z, a_z, g_z)]
        common = self.decoder_dictionary_z(a_z)
        x_rec = common[:, 0:1] + self.rec_x_unique(self.HFF_fuse_x(torch.cat(hff_x, 1)))
        y_rec = common[:, 1:] + self.rec_y_unique(self.HFF_fuse_y(torch.cat(hff_y, 1)))
        return x_rec, y_rec


class ReleaseStandIn(nn.Module):
    """The release's top level: ``predict_ista`` and the unused ``decoder``."""

    def __init__(self, **config) -> None:
        super().__init__()
        n = config["features"]
        self.predict_ista = _Ista(**config)
        self.decoder = nn.Module()
        self.decoder.conv_1 = nn.Conv2d(2 * n, n, 3, padding=1, bias=False)
        self.decoder.conv_2 = nn.Conv2d(n, 1, 3, padding=1, bias=False)
        with torch.no_grad():  # distinct random values everywhere (a mapping mix-up cannot go unnoticed)
            for p in self.parameters():
                p.copy_(torch.randn_like(p) * 0.2)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_rec, y_rec = self.predict_ista(x, y, torch.cat([x, y], 1))
        return x_rec + x, y_rec + y


def _ours_to_release(key: str) -> str:
    """The release key of an MCCDic key (the inverse mapping, written independently of the module)."""
    head, _, rest = key.partition(".")
    role, _, v = head.partition("_")
    if role in ("dict", "precond", "decoder") and v in ("x", "y", "z", "zx", "zy"):
        prefix = {"dict": "encoder_dictionary_", "precond": "precond_encoder_dictionary_", "decoder": "decoder_dictionary_"}[role]
        parts = rest.split(".")
        if parts[0] == "bottleneck":
            sub = "bottleneck_conv.weight"
        elif parts[0] == "up":
            sub = f"syn_up_list.{parts[1]}.up.weight"
        elif parts[0] == "fuse":
            sub = f"syn_up_list.{parts[1]}.conv.weight"
        else:
            sub = "syn_outc.conv.weight"
        return f"predict_ista.{prefix}{v}.{sub}"
    if role == "prox":
        return f"predict_ista.resnet_{v}.{rest.replace('.fc.', '.conv_du.')}"
    simple = {"lift": "layer_in_", "fuse": "HFF_fuse_", "compress": "cpmpress_"}
    if role in simple:
        return f"predict_ista.{simple[role]}{v}.{rest}"
    if role == "head":
        return f"predict_ista.rec_{v}_unique.{rest}"
    raise AssertionError(f"no release counterpart for {key}")


@pytest.fixture(scope="module")
def standin() -> ReleaseStandIn:
    torch.manual_seed(0)
    return ReleaseStandIn(**CONFIG)


def _is_hyper(key: str) -> bool:
    return key.startswith(("step_size_", "threshold_"))


# --------------------------------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------------------------------


def test_standin_state_dict_has_the_release_layout(standin):
    keys = set(standin.state_dict())
    assert "predict_ista.encoder_dictionary_zx.syn_up_list.1.conv.weight" in keys
    assert "predict_ista.resnet_y.1.body.1.body.3.conv_du.2.weight" in keys
    assert "predict_ista.adjoint_encoder_dictionary_x.adjoint_syn_outc.adjoint_conv.weight" in keys
    assert "decoder.conv_1.weight" in keys
    assert not any("adjoint_syn_up_list" in k for k in keys)  # a plain list in the release


def test_every_converted_tensor_is_the_release_tensor_it_came_from(standin):
    net = MCCDic(**CONFIG, power_iterations=2)
    release = standin.state_dict()
    converted = convert_release_state_dict(release, net)
    assert list(converted) == list(net.state_dict())
    net.load_state_dict(converted, strict=True)
    own = net.state_dict()
    for key, value in own.items():
        if _is_hyper(key):
            continue
        source = release[_ours_to_release(key)]
        assert torch.equal(value, source.reshape(value.shape)), key
        if ".fc." in key and key.endswith("weight"):
            assert source.shape[-2:] == (1, 1) and value.ndim == 2
    # every release tensor went somewhere, except the tied adjoint copies and the dead decoder
    used = {_ours_to_release(k) for k in own if not _is_hyper(k)}
    left = {k for k in release if k not in used}
    assert left and all(".adjoint_encoder_dictionary_" in k or k.startswith("decoder.") for k in left)


def test_converted_network_computes_the_release_forward(standin):
    net = MCCDic(**CONFIG, power_iterations=2).double()
    ref = ReleaseStandIn(**CONFIG).double()
    ref.load_state_dict(standin.state_dict())
    net.load_state_dict(convert_release_state_dict(ref.state_dict(), net.state_dict()), strict=True)
    ista = ref.predict_ista
    ista.eta = {v: getattr(net, f"step_size_{v}") for v in "xyz"}
    ista.lam = {v: net._thresholds(v) for v in "xyz"}
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 1, 16, 20, generator=gen, dtype=torch.float64), torch.rand(2, 1, 16, 20, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        x_rel, y_rel = ref(x, y)
        for fast in (False, True):
            net.fast = fast
            out = net(torch.cat([x, y], 1), return_reference=True)
            assert torch.allclose(out[:, 0:1], x_rel, rtol=1e-9, atol=1e-9), fast
            assert torch.allclose(out[:, 1:2], y_rel, rtol=1e-9, atol=1e-9), fast


def test_module_prefixes_and_nested_checkpoints_load(standin, tmp_path):
    wrapped = nn.DataParallel(standin)  # keys "module.predict_ista..." (CPU: no device needed)
    state = wrapped.state_dict()
    assert next(iter(state)).startswith("module.")
    path = tmp_path / "release.pth"
    torch.save({"epoch": 10, "state_dict": state}, path)
    assert set(read_release_state_dict(path)) == set(state)
    net = load_release_checkpoint(path)  # settings read from the checkpoint
    assert net.widths == CONFIG["widths"] and net.num_steps == CONFIG["num_steps"] and net.features == CONFIG["features"]
    assert torch.equal(net.prox_z[2].body[0].body[3].fc[0].weight, standin.predict_ista.resnet_z[2].body[0].body[3].conv_du[0].weight[:, :, 0, 0])
    net.eval()
    with torch.no_grad():
        assert net(torch.rand(1, 2, 20, 24)).shape == (1, 1, 20, 24)
    torch.save({"params": standin.state_dict(), "params_ema": {}}, tmp_path / "basicsr.pth")
    assert set(read_release_state_dict(tmp_path / "basicsr.pth")) == set(standin.state_dict())
    torch.save({"weights": standin.state_dict()}, tmp_path / "custom.pth")
    assert set(read_release_state_dict(tmp_path / "custom.pth", key="weights")) == set(standin.state_dict())


def test_inferred_settings(standin):
    assert infer_release_kwargs(standin.state_dict()) == {**CONFIG}


def test_step_sizes_are_reproducible_and_can_come_from_the_trained_dictionaries(standin):
    a = load_release_checkpoint(standin.state_dict(), seed=3)
    b = load_release_checkpoint(standin.state_dict(), seed=3)
    assert torch.equal(a.step_size_x, b.step_size_x)
    assert torch.equal(a.threshold_z_1, torch.full_like(a.threshold_z_1, 0.01))
    trained = load_release_checkpoint(standin.state_dict(), seed=3, step_sizes="trained")
    lipschitz = power_iteration(trained.dict_y, num_iterations=50)
    assert torch.allclose(trained.step_size_y, torch.full_like(trained.step_size_y, 1 / float(lipschitz)), rtol=0.05)
    assert not torch.allclose(trained.step_size_y, a.step_size_y)
    with pytest.raises(ValueError, match="step_sizes"):
        load_release_checkpoint(standin.state_dict(), step_sizes="learned")


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


def test_unknown_key_is_named(standin):
    state = dict(standin.state_dict())
    state["predict_ista.extra_gate.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"does not have: predict_ista\.extra_gate\.weight"):
        convert_release_state_dict(state, MCCDic(**CONFIG, power_iterations=0))


def test_shape_mismatch_and_missing_keys_are_named_in_one_message(standin):
    state = dict(standin.state_dict())
    del state["predict_ista.layer_in_y.bias"]
    with pytest.raises(ValueError) as err:
        convert_release_state_dict(state, MCCDic(**TINY, power_iterations=0))
    msg = str(err.value)
    assert "shape mismatch" in msg and "dict_x.bottleneck.weight: checkpoint (16, 16, 3, 3) vs network (8, 8, 3, 3)" in msg
    assert "missing from the checkpoint: lift_y.bias" in msg
    assert "load_release_checkpoint(path) reads them" in msg
    state["predict_ista.extra_gate.weight"] = torch.zeros(3)  # unknown keys join the same message
    with pytest.raises(ValueError, match=r"does not have: predict_ista\.extra_gate\.weight.*shape mismatch"):
        convert_release_state_dict(state, MCCDic(**TINY, power_iterations=0))


def test_untied_adjoint_weights_are_refused(standin):
    state = {k: v.clone() for k, v in standin.state_dict().items()}
    state["predict_ista.adjoint_encoder_dictionary_z.adjoint_syn_outc.adjoint_conv.weight"] += 1
    with pytest.raises(ValueError, match="differ from the preconditioner"):
        convert_release_state_dict(state, MCCDic(**CONFIG, power_iterations=0))


def test_an_already_converted_state_dict_is_recognised():
    net = MCCDic(**TINY, power_iterations=0)
    with pytest.raises(ValueError, match="needs no conversion"):
        convert_release_state_dict(net.state_dict(), net)


class _Opaque:
    pass


def test_files_that_are_not_plain_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="No release checkpoint"):
        read_release_state_dict(tmp_path / "absent.pth")
    torch.save({"net": _Opaque()}, tmp_path / "pickled.pth")
    with pytest.raises(ValueError, match="Refusing to load"):
        read_release_state_dict(tmp_path / "pickled.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="Cannot read"):
        read_release_state_dict(tmp_path / "empty.pth")
    with pytest.raises(ValueError, match="Cannot read"):
        read_release_state_dict(tmp_path / "junk.pth")
    torch.save({"epoch": 3}, tmp_path / "meta.pth")
    with pytest.raises(ValueError, match="pass key="):
        read_release_state_dict(tmp_path / "meta.pth")


# --------------------------------------------------------------------------------------------------
# the command line: a state dict for the bundles
# --------------------------------------------------------------------------------------------------


def test_command_writes_a_state_dict_the_bundles_load(tmp_path, capsys):
    from monai_mcrecon.bundle.weights import check_state_dict, load_weights

    torch.manual_seed(5)
    release = ReleaseStandIn(**TINY)
    src, out = tmp_path / "release.pth", tmp_path / "models" / "model_release.pt"
    torch.save(nn.DataParallel(release).state_dict(), src)
    assert main(["--in", str(src), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "--preset tiny" in printed and "dropped" in printed
    state = load_weights(out)
    net = MCCDic.from_preset("tiny")
    check_state_dict(net, state)  # the bundles' CheckpointLoader check
    net.load_state_dict(state, strict=True)
    assert torch.equal(net.head_y.weight, release.predict_ista.rec_y_unique.weight)

    assert main(["--in", str(src), "--out", str(out)]) == 1  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(["--in", str(src), "--out", str(out), "--overwrite", "--preset", "small"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shape mismatch" in err
    assert main(["--in", str(tmp_path / "nope.pth"), "--out", str(tmp_path / "x.pt")]) == 1
    assert "No release checkpoint" in capsys.readouterr().err
