"""``python -m monai_mcrecon``: the ``monai-mcrecon`` command."""

from __future__ import annotations

import sys

from monai_mcrecon.cli import main

if __name__ == "__main__":
    sys.exit(main())
