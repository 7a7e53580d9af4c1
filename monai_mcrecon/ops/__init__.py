"""Image operators that transforms, networks, losses and the classical baselines share (below all of them):

* :mod:`~monai_mcrecon.ops.blur`: the blur operator ``A`` (a true convolution with a per-image kernel) and its
  adjoint ``A^T``;
* :mod:`~monai_mcrecon.ops.warp`: backward warping by an optical flow or a horizontal disparity, flow resizing;
* :mod:`~monai_mcrecon.ops.optical_flow`: TV-L1 optical flow (scikit-image) as a batch operator;
* :mod:`~monai_mcrecon.ops.dehaze`: the dark channel prior (box mean, guided filter);
* :mod:`~monai_mcrecon.ops.color`: the BT.601 luma;
* :mod:`~monai_mcrecon.ops.winograd`: NNPACK's Winograd 3x3 convolutions for CPU inference.

Import the functions from their modules (``from monai_mcrecon.ops.blur import blur``).
"""
