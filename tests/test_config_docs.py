"""docs/config.md is generated from the schema and the registries; it must be current."""

from __future__ import annotations

from pathlib import Path

from mentor.config_docs import config_reference, count_knobs

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_config_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == config_reference(), (
        "docs/config.md is stale: regenerate it with `mentor config --docs > docs/config.md`")


def test_every_config_field_is_described():
    text = config_reference()
    rows = [ln for ln in text.splitlines() if ln.startswith("| `")]
    assert rows and all(not ln.rstrip().endswith("|  |") for ln in rows), [ln for ln in rows if ln.rstrip().endswith("|  |")]


def test_knob_count_is_reported():
    counts = count_knobs()
    assert counts["config_fields"] > 0 and counts["plugin_args"] > 0
