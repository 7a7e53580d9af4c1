"""Bringing a reference contrast onto the target's grid for ``reconstruct`` / ``super-resolve``, in
physical space: exact re-indexing of the same voxels in another order, robust rigid registration
otherwise, and index pairing (with a warning) only for an h5 target without geometry.
"""

from __future__ import annotations

import numpy as np
import torch

from monai_mcrecon.data.grid import same_grid
from monai_mcrecon.data.volume import Log, Volume, has_geometry

__all__ = [
    "INDEX_PAIRING_WARNING",
    "is_lr_grid",
    "resample_reference",
]


#: What ``run_info.json`` and the log say when an h5 target without geometry is paired by index.
INDEX_PAIRING_WARNING = (
    "the h5 target carries no patient geometry, so the reference was paired with it by array index (slice k with "
    "slice k): check that both run in the same slice order and orientation, or write the h5 file with "
    "`monai-mcrecon simulate` (which records the geometry)"
)


def resample_reference(
    reference: Volume, target: Volume, register: bool = True, log: Log = print, on_failure: str = "raise"
) -> tuple[Volume, dict]:
    """Bring the reference onto the target grid, in physical space.

    Identical grids: nothing to do. The same voxel centres in another order (axes permuted or
    flipped: another handedness, a DICOM series sorted the other way): re-indexed exactly
    (:func:`~monai_mcrecon.data.grid.voxel_correspondence`), never paired by index. Otherwise rigid
    registration (Mattes MI) and resampling with
    :class:`~monai_mcrecon.transforms.robust_registration.RobustRegisterReference` (``register=True``:
    several starts and a derivative-free optimiser that cope with an undersampled, aliased target, and
    checks of the result: plausibility, metric gain, ambiguity, forward / backward agreement), or
    resampling by the affines alone (``register=False``). A registration that fails its checks raises
    :class:`~monai_mcrecon.transforms.robust_registration.RegistrationError` (a ``ValueError`` with a
    one-line message; ``on_failure="header"``: resampled by the affines instead, recorded with
    ``accepted: false`` and the failed checks). A fastMRI h5 target without recorded
    geometry has no patient position: a reference of the same matrix size is paired by index (with
    the warning :data:`INDEX_PAIRING_WARNING` in the log and the record; the output uses the
    reference's affine), another one is registered with centred (geometry) initialisation.

    Returns:
        the reference on the target grid (affine = the target's) and a description of what was done.

    Raises:
        RegistrationError: the registration failed its checks and ``on_failure="raise"``.
    """
    from monai.data import MetaTensor

    from monai_mcrecon.data.grid import match_to_grid, voxel_correspondence
    from monai_mcrecon.transforms.registration import RegisterReference
    from monai_mcrecon.transforms.robust_registration import RobustRegisterReference

    if same_grid(reference.array.shape, reference.affine, target.array.shape, target.affine):
        info = {"action": "none", "reason": "reference and target grids are identical"}
        log("Reference: same grid as the target, used as it is.")
        return reference, info
    geometry = has_geometry(target)
    if geometry and voxel_correspondence(reference.array.shape, reference.affine, target.array.shape, target.affine):
        arr, how = match_to_grid(reference.array, reference.affine, target.array.shape, target.affine)
        info = {"action": "reordered onto the target grid in physical space", "reason": how}
        log(f"Reference: the target's voxels in another order or orientation; {how}.")
        return Volume(arr, target.affine.copy(), reference.kind, reference.path, reference.info), info
    if not geometry and reference.array.shape == target.array.shape:
        target.affine = reference.affine.copy()
        info = {
            "action": "paired by index",
            "reason": "h5 target without patient geometry and a reference of the same matrix: the output uses the "
            "reference's affine",
            "warning": INDEX_PAIRING_WARNING,
        }
        log(f"WARNING: {INDEX_PAIRING_WARNING}.")
        return Volume(reference.array, target.affine, reference.kind, reference.path, reference.info), info
    initializer = "header" if geometry else "geometry"
    reg = (
        RobustRegisterReference(mode="auto", initializer=initializer, on_failure=on_failure)
        if register
        else RegisterReference(mode="never", initializer=initializer)
    )
    ref_mt = MetaTensor(torch.from_numpy(reference.array[None]), affine=torch.as_tensor(reference.affine))
    tgt_mt = MetaTensor(torch.from_numpy(target.array[None]), affine=torch.as_tensor(target.affine))
    out = reg(ref_mt, tgt_mt)
    rinfo = dict(out.meta["registration"])
    if not rinfo.get("ran"):
        action = "resampled by the affines (no registration)"
    elif rinfo.get("fallback") == "header":
        action = "resampled by the affines (the registration failed its checks)"
    else:
        action = "registered and resampled"
    log(
        f"Reference: grid {reference.array.shape} differs from the target's {target.array.shape} (or its affine); "
        f"{action} onto the target grid"
        + (
            f" (rotation {rinfo.get('rotation_deg', 0.0):.2f} deg, translation "
            f"{np.round(rinfo.get('translation_mm', [0, 0, 0]), 2).tolist()} mm"
            + ("; checks passed)." if rinfo.get("accepted") else f"; {rinfo.get('reason', '')}).")
            if rinfo.get("ran")
            else "."
        )
    )
    info = {"action": action, **{k: v for k, v in rinfo.items() if k != "matrix"}}
    arr = np.ascontiguousarray(out.as_tensor().numpy()[0], dtype=np.float32)
    return Volume(arr, target.affine.copy(), reference.kind, reference.path, reference.info), info


def is_lr_grid(target: Volume, reference: Volume) -> bool:
    t, r = target.array.shape, reference.array.shape
    return t[2] == r[2] and t[:2] != r[:2] and t[0] <= r[0] and t[1] <= r[1]
