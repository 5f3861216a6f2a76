"""The reports of every catalogue model are byte for byte what tests/golden holds: a refactoring
changes no output; an intended change rewrites the goldens (tests/golden/update.py) and the
diff is read in review."""

from __future__ import annotations

import sys

import pytest
from support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "golden"))
import update  # noqa: E402

pytestmark = pytest.mark.slow  # the fast tier (-m "not slow") leaves these out


KEPT = update.digests()


@pytest.mark.parametrize("model", update.models(), ids=lambda p: str(p.relative_to(ROOT)))
def test_reports_are_the_golden_ones(model):
    out = update.outputs(model)
    path = update.golden_path(model, "txt")
    assert path.exists(), f"no golden {path.name}: run python3 tests/golden/update.py"
    assert out["txt"] == path.read_text(), f"{path.name} differs: tests/golden/update.py"
    rel = str(model.relative_to(ROOT))
    assert update.digest(out["json"]) == KEPT.get(rel), f"the JSON of {rel} differs"
