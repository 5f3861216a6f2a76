"""Messages a driver engineer understands: the NMR call named, why a name is not visible,
and each trace step labelled with the line of the statement that ran in it."""

from __future__ import annotations

import pytest
from support import check_text

from nmrcheck.errors import InputError
from nmrcheck.nmr.load import load_text
from nmrcheck.traces.steps import describe


def errors(text: str) -> list[str]:
    with pytest.raises(InputError) as exc:
        load_text(text, "m.nmr")
    return [str(f) for f in exc.value.findings]


def test_a_misspelt_nmr_call_is_named_with_a_suggestion():
    found = errors(
        "npi N\ndriver P { provider Prov of N\n"
        " Unload {\n  status = NmrDeregisterProvder(Prov)\n } }\n"
    )
    assert found == [
        "m.nmr:4:12: error: unknown NMR call 'NmrDeregisterProvder'; "
        "did you mean 'NmrDeregisterProvider'?"
    ]


def test_a_binding_variable_in_a_plain_task_says_where_it_can_be_used():
    found = errors(
        "npi N\ndriver P { provider Prov of N\n binding var n: 0..3 = 0\n"
        " task T { n = 1 }\n task U { var k: 0..3 = 0\n  k = n }\n}\n"
    )
    assert len(found) == 2
    assert all("'n' is a binding variable" in f for f in found)
    assert [f.split(": error")[0] for f in found] == ["m.nmr:4:11", "m.nmr:6:7"]
    assert not any("did you mean 'n'" in f for f in found)


def test_a_binding_lock_in_a_plain_task_says_where_it_can_be_used():
    found = errors(
        "npi N\ndriver P { provider Prov of N\n binding lock BL\n"
        " task T { acquire(BL)\n  release(BL) }\n}\n"
    )
    assert found and found[0].startswith("m.nmr:4:19: error: 'BL' is a binding lock")


ELSE_IF = """npi N
driver P {
  provider Prov of N
  var k: 0..2 = 1
  Unload {
    k = 1
    if (k == 0) {
      k = 2
    } else if (k == 1) {
      k = 2
    } else {
      skip
    }
    assert(k == 0)
  }
}
"""


def test_a_step_through_an_else_if_is_labelled_with_the_statement_that_ran():
    res, ts = check_text(ELSE_IF)
    r = res["assert@t.nmr:14"]
    steps = [s for s in describe(ts, r.trace) if s.kind == "step" and s.routine == "Unload"]
    lines = [(s.text, s.line) for s in steps]
    assert lines == [("k = 1", 6), ("k = 2", 10), ("assert(k == 0)", 14)]


def test_return_inside_atomic_returns_in_that_step_and_skips_the_rest():
    text = (
        "npi N\ndriver P {\n provider Prov of N\n var k: 0..2 = 0\n"
        " task T { atomic { k = 1; return; k = 2 } }\n"
        " task U when (k == 2) { error(\"reached\") }\n}\n"
        "driver C { client Cli of N\n ClientDetachProvider {\n"
        "  atomic { return STATUS_PENDING; k = 1 } } \n var k: 0..1 = 0 }\n"
    )
    res, _ = check_text(text)
    assert res["error@t.nmr:6"].verdict == "holds"
