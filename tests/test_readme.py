"""The README's example output is what the tool prints."""

from __future__ import annotations

from tests.support import ROOT, run_cli

MODEL = "models/seeds/provider-unload-no-wait.nmr"


def test_readme_example_is_current() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"{MODEL}: VIOLATED")
    shown = text[start : text.index("```", start)].strip()
    r = run_cli("check", MODEL, "--property", "unload_waits_for_bindings")
    assert r.code == 1
    assert r.out.strip() == shown


def test_readme_mermaid_is_current(tmp_path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```mermaid")
    shown = text[start : text.index("```", start + 3) + 3]
    out = tmp_path / "trace.md"
    r = run_cli("check", MODEL, "--property", "unload_waits_for_bindings", "--mermaid", str(out))
    assert r.code == 1
    assert shown in out.read_text(encoding="utf-8")
