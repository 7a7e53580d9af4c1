"""What ``python -m monai.bundle`` and the ``monai-mcrecon`` command share about bundles.

``locate`` (where the shipped bundles are, trust), ``weights`` (checksums, loading), ``overrides``
(command-line override checks), ``run`` (running a bundle's network in-process) and ``run_info``
(what a run records). The shipped bundles themselves are data: ``monai_mcrecon/bundles/<name>/``.
"""

from pathlib import Path

#: The metadata schema for ``python -m monai.bundle verify_metadata --filepath ...`` (kept here so it runs offline).
METADATA_SCHEMA = Path(__file__).resolve().parent / "meta_schema.json"
