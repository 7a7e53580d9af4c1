#!/usr/bin/env python
"""Rewrite ``bundles/<name>/large_files.yml`` with the SHA-256 of each bundle's weight files.

Run it after new weights land (the bundles refuse weights whose hash differs from the recorded one):

    python tools/update_checksums.py                 # every bundle of the package
    python tools/update_checksums.py mc_cdic_recon   # some bundles
    python tools/update_checksums.py --check         # only verify; exit 1 on a mismatch or unlisted file

Each entry is MONAI's ``large_files`` format (``path``, ``url``, ``hash_val``, ``hash_type: sha256``);
the ``url`` of an existing entry is kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monai_mcrecon.bundle.locate import BUNDLES_DIR, shipped_bundles  # noqa: E402
from monai_mcrecon.bundle.weights import WeightsError, read_large_files, verify_weights_file, write_large_files  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundles", nargs="*", help="bundle names (default: all bundles with a models/ folder)")
    p.add_argument("--check", action="store_true", help="verify the recorded hashes instead of rewriting them")
    args = p.parse_args(argv)
    names = args.bundles or [n for n in shipped_bundles() if (BUNDLES_DIR / n / "models").is_dir()]
    status = 0
    for name in names:
        root = BUNDLES_DIR / name
        if not (root / "configs").is_dir():
            print(f"unknown bundle {name!r}; choose from {shipped_bundles()}", file=sys.stderr)
            return 2
        weights = sorted(str(w.relative_to(root)) for w in (root / "models").glob("*.pt"))
        if args.check:
            listed = read_large_files(root)
            for rel in weights:
                try:
                    ok = verify_weights_file(root / rel, root)
                except WeightsError as e:
                    print(f"{name}: {e}", file=sys.stderr)
                    status = 1
                    continue
                if ok is None:
                    print(f"{name}: {rel} is not listed in large_files.yml", file=sys.stderr)
                    status = 1
            missing = sorted(set(listed) - set(weights))
            if missing:
                print(f"{name}: large_files.yml lists missing files {missing}", file=sys.stderr)
                status = 1
            if status == 0:
                print(f"{name}: {len(weights)} weight file(s) verified")
        else:
            path = write_large_files(root, weights)
            print(f"{name}: wrote {path.relative_to(BUNDLES_DIR.parent)} ({len(weights)} file(s))")
    return status


if __name__ == "__main__":
    sys.exit(main())
