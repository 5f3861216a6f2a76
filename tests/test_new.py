"""nmrcheck new: every pattern is listed, written from its catalogue model, and holds as
generated."""

from __future__ import annotations

import re

import pytest
from support import ROOT, heavy_design, run_cli

from nmrcheck.patterns import PATTERNS


def test_list_names_every_pattern_and_its_catalogue_model():
    r = run_cli("new", "--list")
    assert r.code == 0
    listed = dict(re.findall(r"^(\S+) .*\((models/\S+\.nmr)\)$", r.out, flags=re.M))
    assert listed == {p.name: f"models/{p.model}" for p in PATTERNS}
    for model in listed.values():
        assert re.search(r"^// Expected: holds", (ROOT / model).read_text(), flags=re.M), model


def test_the_issue_s_patterns_are_there():
    names = {p.name for p in PATTERNS}
    assert {"pending-detach", "rundown", "client-and-provider", "subcomponent"} <= names


@pytest.mark.parametrize("name", [  # those of the designs but D5: full suite only
    pytest.param(p.name, marks=[pytest.mark.slow] if heavy_design(ROOT / "models" / p.model)
                 else []) for p in PATTERNS])
def test_every_pattern_holds_as_generated(name, tmp_path):
    out = tmp_path / "design.nmr"
    r = run_cli("new", name, str(out))
    assert r.code == 0, r.err
    text = out.read_text()
    assert text.startswith(f"// {out}: a new design, started with `nmrcheck new {name}`")
    r = run_cli("check", str(out), "--json")
    assert r.code == 0, r.out
    assert all(p["verdict"] in ("holds", "witnessed") for p in r.json["models"][0]["properties"])


def test_an_existing_file_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "mine.nmr"
    out.write_text("// my work\n")
    r = run_cli("new", "rundown", str(out))
    assert r.code == 2
    assert r.err.startswith(f"{out}: error: already exists")
    assert out.read_text() == "// my work\n"
    assert run_cli("new", "rundown", str(out), "--force").code == 0
    assert "`nmrcheck new rundown`" in out.read_text()


def test_usage_mistakes_exit_2(tmp_path):
    r = run_cli("new", "pending-detatch", str(tmp_path / "x.nmr"))
    assert r.code == 2 and "did you mean 'pending-detach'?" in r.err
    assert not (tmp_path / "x.nmr").exists()
    assert run_cli("new").code == 2
    assert run_cli("new", "rundown").code == 2
    r = run_cli("new", "rundown", str(tmp_path / "no" / "x.nmr"))
    assert r.code == 2 and "cannot write" in r.err
