"""CALL-1 judges a call against the protection its thread holds: a counted reference taken
before the detach callback returned STATUS_PENDING covers a call made in a later step."""

from __future__ import annotations

import pytest
from support import check_text

from nmrcheck.traces.steps import describe

PROVIDER = """npi N
driver Provider {
  provider Prov of N
  Unload {
    status = NmrDeregisterProvider(Prov)
    if (status == STATUS_PENDING) {
      NmrWaitForProviderDeregisterComplete(Prov)
    }
  }
}
"""

# The Programming Considerations wrapper as the docs write it: count the call under the
# DetachLock, release both locks, then make the call; decrement under the lock after it.
WRAPPER = """driver Client {
  client Cli of N
  lock ListLock
  var on_list: bool = false
  binding lock DetachLock
  binding var in_progress: 0..2 = 0
  binding var detaching: bool = false
  ClientAttachProvider {
    status = NmrClientAttachProvider()
    if (status == STATUS_SUCCESS) {
      acquire(ListLock)
      on_list = true
      release(ListLock)
    }
    return status
  }
  binding task CallProvider when (in_progress < 2) {
    acquire(ListLock)
    if (!on_list) {
      release(ListLock)
      return
    }
    acquire(DetachLock)
    in_progress = in_progress + 1
    release(DetachLock)
    release(ListLock)
    npi_call_begin()
    npi_call_end()
    acquire(DetachLock)
    in_progress = in_progress - 1
    if (detaching && in_progress == 0) {
      release(DetachLock)
      NmrClientDetachProviderComplete(binding)
    } else {
      release(DetachLock)
    }
  }
  ClientDetachProvider {
    var pending: bool = false
    acquire(ListLock)
    on_list = false
    acquire(DetachLock)
    detaching = true
    pending = in_progress > 0
    release(DetachLock)
    release(ListLock)
    if (pending) {
      return STATUS_PENDING
    }
    return STATUS_SUCCESS
  }
}
"""

# A hook provider: the rundown reference is taken under the filter lock, the invoke is a
# separate step after the lock is released.
RUNDOWN = """npi N
driver Hook {
  provider HookProv of N
  lock FilterLock
  var attached: bool = false
  binding var refs: 0..2 = 0
  binding var running_down: bool = false
  ProviderAttachClient {
    attached = true
    return STATUS_SUCCESS
  }
  binding task Classify when (refs < 2) {
    var ok: bool = false
    acquire(FilterLock)
    atomic {
      ok = attached && !running_down
      if (ok) { refs = refs + 1 }
    }
    release(FilterLock)
    if (ok) {
      npi_call_begin()
      npi_call_end()
      refs = refs - 1
    }
  }
  ProviderDetachClient {
    acquire(FilterLock)
    attached = false
    release(FilterLock)
    queue(DetachWork)
    return STATUS_PENDING
  }
  binding workitem DetachWork {
    running_down = true
    await refs == 0
    NmrProviderDetachClientComplete(binding)
  }
  Unload {
    status = NmrDeregisterProvider(HookProv)
    if (status == STATUS_PENDING) {
      NmrWaitForProviderDeregisterComplete(HookProv)
    }
  }
}
driver Link { client L of N }
"""


def test_the_docs_wrapper_written_literally_holds():
    res, _ = check_text(PROVIDER + _two_wrappers(WRAPPER))
    assert res["CALL-1"].verdict == "holds"
    assert all(r.verdict != "violated" for r in res.values()), {
        k for k, r in res.items() if r.verdict == "violated"
    }


def test_a_rundown_reference_then_a_separate_invoke_holds():
    res, _ = check_text(RUNDOWN)
    assert res["CALL-1"].verdict == "holds"


def _two_wrappers(text: str) -> str:
    """``text`` with a second copy of the wrapper task (a second thread making calls)."""
    start = text.index("  binding task CallProvider")
    end = text.index("  ClientDetachProvider")
    task = text[start:end]
    return text[:end] + task.replace("CallProvider", "CallProvider2") + text[end:]


@pytest.mark.slow  # 2 s: full suite only
def test_a_reference_counted_after_the_pending_return_does_not_cover_the_call():
    # the wrapper no longer checks the list: it can count after the detach returned
    check = "    if (!on_list) {\n      release(ListLock)\n      return\n    }\n"
    unchecked = WRAPPER.replace(check, "")
    res, ts = check_text(PROVIDER + _two_wrappers(unchecked))
    r = res["CALL-1"]
    assert r.verdict == "violated"
    last = describe(ts, r.trace)[-1]
    assert last.fault == "CALL-1" and last.text.startswith("npi_call_begin()")


def test_giving_the_reference_back_before_the_call_loses_the_cover():
    text = WRAPPER.replace(
        "    release(ListLock)\n    npi_call_begin()",
        "    release(ListLock)\n    in_progress = in_progress - 1\n    npi_call_begin()",
    )
    res, _ = check_text(PROVIDER + _two_wrappers(text))
    assert res["CALL-1"].verdict == "violated"
