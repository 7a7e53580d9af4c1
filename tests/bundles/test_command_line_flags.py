"""On/off flags given on the command line reach the configs as strings.

``python -m monai.bundle run ... --save_images false`` passes the string ``'false'`` (python-fire keeps bare words
as strings), which is truthy; a config must read every flag whose default is ``true``/``false`` through
``monai_mcrecon.bundle.overrides.as_bool`` (or a helper that parses the string itself), or the flag is silently ignored.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from monai.bundle import ConfigParser

from monai_mcrecon.bundle.locate import bundle_dir, config_files, shipped_bundles
from monai_mcrecon.bundle.overrides import as_bool

# helpers that parse a flag's string themselves (tested with the helpers)
PARSES_STRINGS = {"resume": "resume_path(", "overwrite": "skip_finished("}


def _unwrapped_uses(bundle: str) -> list[str]:
    configs = sorted((Path(bundle_dir(bundle)) / "configs").glob("*.json"))
    texts = {p.name: p.read_text() for p in configs}
    flags = {k for t in texts.values() for k, v in json.loads(t).items() if isinstance(v, bool)}
    bad = []
    for name, text in texts.items():
        for value in re.findall(r'"((?:[^"\\]|\\.)*)"', text):
            for k in flags:
                for m in re.finditer(r"@%s(?![#\w])" % k, value):
                    before = value[: m.start()]
                    if before.endswith("as_bool("):
                        continue
                    if k in PARSES_STRINGS and PARSES_STRINGS[k] in value:
                        continue
                    bad.append(f"{name}: {value[:120]}")
    return bad


@pytest.mark.parametrize("bundle", shipped_bundles())
def test_every_on_off_flag_is_read_through_as_bool(bundle):
    assert _unwrapped_uses(bundle) == []


def test_as_bool_reads_command_line_spellings():
    assert [as_bool(v) for v in (True, "true", "True", "1", "yes", "on")] == [True] * 6
    assert [as_bool(v) for v in (False, "false", "False", "0", "no", "off", None)] == [False] * 7


def test_a_false_string_turns_figures_and_the_tvl1_baseline_off(tmp_path):
    """``--tvl1_baseline false --save_figures false`` as monai.bundle's command line passes them."""
    parser = ConfigParser()
    parser.read_config([str(f) for f in config_files(bundle_dir("fgdcn_vfi"), "evaluate.json")])  # the overlay on inference.json
    parser.update({"output_dir": str(tmp_path)})
    assert "psnr_tvl1" in parser.get_parsed_content("columns")
    writers = [type(h).__name__ for h in parser.get_parsed_content("handlers")]
    assert "InterpolationFigureWriter" in writers
    parser.update({"save_figures": "false", "tvl1_baseline": "false"})
    assert set(parser.get_parsed_content("columns")) == {"psnr", "ssim", "psnr_input", "ssim_input"}
    assert parser.get_parsed_content("additional_metrics").get("psnr_tvl1") is None
    writers = [type(h).__name__ for h in parser.get_parsed_content("handlers", lazy=False)]
    assert "InterpolationFigureWriter" not in writers and "MetricsCSVWriter" in writers
