"""Building blocks of Deep Richardson-Lucy (:class:`monai_mcrecon.networks.nets.deep_rl.DeepRL`).

- :func:`richardson_lucy_update`: one Richardson-Lucy step with a latent saturation map ``M`` and an
  additive prior term ``P`` in the denominator (spec ``shared/specs/deep_rl.md`` section 4,
  **inferred; the paper text was not available**)::

      I+ = I * A^T( B / max(A I, eps) ) / max( A^T M + P, eps )

  With ``M = 1``, ``P = 0`` and a normalised kernel this is textbook Richardson-Lucy
  ``I+ = I * A^T(B / A I)``.
- :class:`ConvEstimator`: the 4-conv CNN (conv3-ReLU x3, conv3) used for MEN and PEN.
- :class:`UNetEstimator`: the 3-level MONAI U-Net variant; pads H, W to a multiple of 4 inside and crops back.

Bundle I/O helpers (``deep_rl_deblur`` inference): :func:`load_blur_kernel`, :class:`LoadBlurKerneld`,
:func:`blurred_folder_datalist` (a folder of blurred images with ``<stem>_kernel.npy|png`` files).

The blur operator ``A`` and its adjoint come from :mod:`monai_mcrecon.networks.blocks.blur` (the
project's single blur operator, also used to synthesise the training data).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform
from torch import nn

from monai_mcrecon.networks.blocks.blur import blur, blur_adjoint

__all__ = [
    "KERNEL_SUFFIXES",
    "ConvEstimator",
    "LoadBlurKerneld",
    "UNetEstimator",
    "blurred_folder_datalist",
    "load_blur_kernel",
    "richardson_lucy_update",
]


def richardson_lucy_update(
    estimate: torch.Tensor,
    blurred: torch.Tensor,
    kernel: torch.Tensor,
    weight_map: torch.Tensor | float | None = None,
    prior: torch.Tensor | None = None,
    padding: str = "replicate",
    eps: float = 1e-6,
    denominator: str = "clamp",
    blurred_estimate: torch.Tensor | None = None,
) -> torch.Tensor:
    """One (regularised, saturation-aware) Richardson-Lucy step.

    Args:
        estimate: current latent image ``I >= 0``, ``[B, C, H, W]``.
        blurred: observation ``B >= 0``, ``[B, C, H, W]``.
        kernel: ``[B, 1, kh, kw]`` or ``[1, kh, kw]``, non-negative, summing to 1.
        weight_map: latent map ``M`` in (0, 1] (tensor broadcastable to ``estimate`` or a scalar);
            ``None`` means ``M = 1``.
        prior: additive prior term ``P = lambda * grad(phi)(I)`` (any sign); ``None`` means 0.
        padding: border handling of the blur operator (see :func:`monai_mcrecon.networks.blocks.blur.blur`).
        eps: lower clamp of the blurred estimate and of the denominator (clamps, not additive, so that
            ``M = 1, P = 0`` reproduces textbook RL up to float error).
        denominator: ``"clamp"`` (``max(den, eps)``) or ``"softplus"`` (``softplus(den) + eps``, smooth).
        blurred_estimate: ``A I`` when the caller already computed it.

    Returns:
        the updated estimate ``[B, C, H, W]`` (non-negative for non-negative ``estimate`` and ``blurred``).
    """
    if denominator not in ("clamp", "softplus"):
        raise ValueError(f"denominator={denominator!r}; use 'clamp' or 'softplus'.")
    ai = blur(estimate, kernel, padding) if blurred_estimate is None else blurred_estimate
    num = blur_adjoint(blurred / ai.clamp_min(eps), kernel, padding)
    if weight_map is None:
        weight_map = 1.0
    if not torch.is_tensor(weight_map):
        weight_map = torch.full_like(estimate, float(weight_map))
    den = blur_adjoint(weight_map.expand_as(estimate), kernel, padding)
    if prior is not None:
        den = den + prior
    den = den.clamp_min(eps) if denominator == "clamp" else F.softplus(den) + eps
    return estimate * num / den


class ConvEstimator(nn.Module):
    """``conv3-ReLU x (num_convs - 1), conv3``: the 4-conv CNN of MEN and PEN (spec section 4).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        features: width ``w`` of the hidden convs.
        num_convs: number of 3x3 convolutions (4 in the spec).
        out_scale: the last conv's initial weights are multiplied by this (small values start the
            network close to classic RL; project choice).
        out_bias: initial bias of the last conv (MEN uses it to start with ``M = sigmoid(bias)`` close to 1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        features: int = 16,
        num_convs: int = 4,
        out_scale: float = 1.0,
        out_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if num_convs < 1:
            raise ValueError(f"num_convs={num_convs}; use at least 1 convolution.")
        layers: list[nn.Module] = []
        ch = in_channels
        for _ in range(num_convs - 1):
            layers += [nn.Conv2d(ch, features, 3, padding=1), nn.ReLU(inplace=True)]
            ch = features
        last = nn.Conv2d(ch, out_channels, 3, padding=1)
        with torch.no_grad():
            last.weight.mul_(out_scale)
            last.bias.fill_(out_bias)
        layers.append(last)
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UNetEstimator(nn.Module):
    """MONAI ``UNet(spatial_dims=2, channels=(w, 2w, 4w), strides=(2, 2))`` for MEN/PEN.

    Any H, W: the input is replicate-padded to a multiple of 4 and the output cropped back.
    ``out_scale``/``out_bias`` as in :class:`ConvEstimator` (applied to the U-Net's last convolution).
    """

    def __init__(
        self, in_channels: int, out_channels: int, features: int = 16, out_scale: float = 1.0, out_bias: float = 0.0
    ) -> None:
        super().__init__()
        from monai.networks.nets import UNet

        self.net = UNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=out_channels,
            channels=(features, 2 * features, 4 * features),
            strides=(2, 2),
            num_res_units=1,
        )
        last = [m for m in self.net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
        with torch.no_grad():
            last.weight.mul_(out_scale)
            if last.bias is not None:
                last.bias.fill_(out_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.net(x)[..., :h, :w]


# ----------------------------------------------------------------------------------------------- bundle I/O
# Helpers of the ``deep_rl_deblur`` bundle's inference: blurred images with one kernel file each.

KERNEL_SUFFIXES = (".npy", ".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def load_blur_kernel(path) -> torch.Tensor:
    """Read a blur kernel (point-spread function) file into a ``[1, kh, kw]`` float32 tensor summing to 1.

    ``.npy``: a 2-D array (or ``[1, kh, kw]``) of non-negative values. Image files (PNG/TIFF/BMP/JPEG): read
    as gray (RGB -> BT.601 luma), any bit depth. The kernel is the PSF in the orientation of a true
    convolution (``blurred = kernel * sharp``, as :func:`monai_mcrecon.networks.blocks.blur.blur`): the
    image of a point light source. It is normalised to sum 1.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unsupported suffix, not 2-D, even size, negative values or a zero sum.
    """
    from pathlib import Path

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Blur kernel file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        k = np.load(path, allow_pickle=False).astype(np.float64)
    elif suffix in KERNEL_SUFFIXES:
        from monai_mcrecon.transforms.natural import LoadNaturalImage

        k = LoadNaturalImage(channels=1)(path)[0].double().numpy()
    else:
        raise ValueError(f"{str(path)!r}: unsupported kernel file type; use one of {KERNEL_SUFFIXES}.")
    k = np.squeeze(k)
    if k.ndim != 2:
        raise ValueError(f"{str(path)!r}: a blur kernel must be 2-D, got shape {k.shape}.")
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(
            f"{str(path)!r}: kernel size {k.shape[0]}x{k.shape[1]} must be odd in both directions so that it is "
            "centred; pad it with a row/column of zeros."
        )
    if not np.isfinite(k).all() or (k < 0).any() or k.sum() <= 0:
        raise ValueError(f"{str(path)!r}: a blur kernel must be finite, non-negative and have a positive sum.")
    return torch.from_numpy(k / k.sum()).float()[None]


def blurred_folder_datalist(folder, kernel=None) -> list[dict]:
    """Datalist ``{"image", "kernel", "case_id"}`` for a folder of blurred images, each with its kernel file.

    Every image ``<stem>.<png|jpg|...>`` needs ``<stem>_kernel.npy`` or ``<stem>_kernel.png`` (or another
    image suffix) in the same folder; files named ``*_kernel.*`` are kernels, not images. With ``kernel``
    (one file) that kernel is used for every image instead.

    Raises:
        FileNotFoundError: the folder does not exist, or an image has no kernel file (the expected names are given).
        ValueError: the folder holds no image.
    """
    from pathlib import Path

    from monai_mcrecon.data.natural import IMAGE_SUFFIXES

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder of blurred images {str(folder)!r} does not exist or is not a folder.")
    images = sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_kernel")
        and not p.name.startswith(".")
    )
    if not images:
        raise ValueError(
            f"No blurred image found in {str(folder)!r} (looked for {', '.join(IMAGE_SUFFIXES)}; files named "
            "*_kernel.* are kernels)."
        )
    items = []
    for p in images:
        if kernel is not None:
            kpath = Path(kernel)
        else:
            candidates = [folder / f"{p.stem}_kernel{s}" for s in KERNEL_SUFFIXES]
            found = [c for c in candidates if c.is_file()]
            if not found:
                raise FileNotFoundError(
                    f"No blur kernel for {p.name!r}: put {p.stem}_kernel.npy or {p.stem}_kernel.png next to it "
                    "(or pass one kernel file for all images with kernel_file=...)."
                )
            kpath = found[0]
        items.append({"image": str(p), "kernel": str(kpath), "case_id": p.stem})
    return items


class LoadBlurKerneld(MapTransform):
    """Dictionary transform: replace the kernel path under ``keys`` by :func:`load_blur_kernel` ``[1, kh, kw]``
    (tensors are kept as they are)."""

    def __init__(self, keys: KeysCollection = "kernel", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            d[k] = d[k] if torch.is_tensor(d[k]) else load_blur_kernel(d[k])
        return d
