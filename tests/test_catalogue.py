"""Every catalogue model gives the verdict its header promises (the `// Expected:` line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import ROOT, check_json, model_params, sweep_slow

MODELS = sorted((ROOT / "models").rglob("*.nmr"))


def expected(path: Path) -> tuple[str, set[str]]:
    """('holds' | 'violated', the ids that must be violated) from the header comment."""
    for line in path.read_text().splitlines():
        m = re.match(r"//\s*Expected:\s*(.*)", line)
        if not m:
            continue
        text = m.group(1)
        if text.startswith("holds"):
            return "holds", set()
        if "hang" in text:
            ids = {"no_hang"}
        else:
            ids = set()
        inner = re.search(r"\(([^)]*)\)", text)
        if inner:
            ids |= {
                t.strip().split(":")[0].split()[0]
                for t in inner.group(1).split(",")
                if t.strip() and not t.strip().startswith("no_hang violated")
            }
        ids = {i for i in ids if re.fullmatch(r"[A-Za-z_]+(-\d+)?|[A-Z]+-\d+", i)}
        return "violated", ids
    raise AssertionError(f"{path} has no '// Expected:' line")


def test_every_model_has_a_header():
    assert MODELS
    for p in MODELS:
        first = p.read_text().splitlines()[0]
        assert first.startswith("//"), p
        expected(p)


# the heavy and the obligation models: full suite only (``sweep_slow``)
@pytest.mark.parametrize("path", model_params(MODELS, slow=sweep_slow))
def test_catalogue_verdict(path):
    verdict, ids = expected(path)
    r = check_json(str(path.relative_to(ROOT)))  # the report test_golden.py digests
    doc = r.json["models"][0]
    got = {p["property"]: p["verdict"] for p in doc["properties"]}
    violated = {k for k, v in got.items() if v == "violated"}
    if verdict == "holds":
        assert r.code == 0 and not violated, violated
    else:
        assert r.code == 1
        assert ids, f"{path}: name the violated ids in the Expected line"
        assert ids <= violated, (ids, violated)
        # each violation's trace names the obligation at the step that broke it
        for p in doc["properties"]:
            if p["property"] in ids and p["property"] != "no_hang" and p.get("trace"):
                kinds = [k for s in p["trace"] for k in (s.get("violates") or "").split(", ")]
                if p["property"][:3] in ("REG", "ATT", "CAL", "DET", "CLN", "DRG"):
                    assert p["property"] in kinds, (p["property"], kinds)
