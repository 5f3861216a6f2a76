"""REG-6: NMR may attach and detach a registration while NmrRegister* is still running, before
the handle is stored (N10); a callback that uses the handle in that window is caught. Designs
whose callbacks never use a handle keep a one-step register call (no states added)."""

from __future__ import annotations

from support import check_text

from nmrcheck.traces.steps import describe

PROVIDER = """npi N
driver P {
  provider Prov of N
  Unload {
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
}
"""

CLIENT = """driver C {
  client Cli of N
  var gone: bool = false
  ClientDetachProvider {
    if (!gone) {
      gone = true
      s = NmrDeregisterClient(Cli)    // the provider went away: stop being its client
    }
    return STATUS_SUCCESS
  }
}
"""

FIXED = """driver C {
  client Cli of N
  var registered: bool = false
  var gone: bool = false
  DriverEntry {
    s = NmrRegisterClient(Cli)
    registered = true
  }
  ClientDetachProvider {
    if (registered && !gone) {
      gone = true
      s = NmrDeregisterClient(Cli)
    }
    return STATUS_SUCCESS
  }
}
"""


def test_a_callback_using_the_handle_inside_the_register_call_is_reg6():
    res, ts = check_text(PROVIDER + CLIENT)
    r = res["REG-6"]
    assert r.verdict == "violated"
    steps = describe(ts, r.trace)
    start = next(s.index for s in steps if s.text.startswith("NmrRegisterClient(Cli): C.Cli"))
    assert not any("NmrRegisterClient(Cli) returns" in s.text for s in steps[start:])
    assert (steps[-1].fault, steps[-1].routine) == ("REG-6", "ClientDetachProvider")


def test_a_callback_that_waits_for_the_stored_handle_holds():
    res, _ = check_text(PROVIDER + FIXED)
    assert res["REG-6"].verdict == "holds"


def test_designs_whose_callbacks_use_no_handle_keep_a_one_step_register_call():
    res, ts = check_text(PROVIDER + "driver C { client Cli of N }\n")
    assert "REG-6" not in res
    texts = [a.meta.get("text", "") for a in ts.actions]
    assert any(t.startswith("NmrRegisterClient(Cli) -> STATUS_SUCCESS") for t in texts)
    assert not any("before the handle is stored" in t for t in texts)
    assert not any("handle_stored" in v.name for v in ts.vars)
