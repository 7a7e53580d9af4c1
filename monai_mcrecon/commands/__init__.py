"""One module per ``monai-mcrecon`` subcommand, thin over :mod:`monai_mcrecon.data` and :mod:`monai_mcrecon.bundle`.

``restore`` (``reconstruct`` / ``super-resolve``), ``batch`` (several targets), ``simulate``, ``evaluate``;
``pairing`` brings a reference onto the target grid for ``restore``.
"""
