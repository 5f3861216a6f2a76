"""NMR rules one by one (nmr-semantics.md): each allowed behaviour is explored (a reachable
property is witnessed) and each forbidden one is reported under its obligation id."""

from __future__ import annotations

from support import check_text, verdicts

PROVIDER = """
driver P {
  provider Prov of X
  Unload {
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
}
"""


def model(client_body: str, provider: str = PROVIDER) -> str:
    return f"npi X\n{provider}\ndriver C {{\n  client Cli of X\n{client_body}\n}}\n"


def test_both_detach_orders_are_explored():  # N3
    spec = """
reachable client_first: exists b in bindings: b.cs == DONE && b.ps == IN_CALLBACK
reachable provider_first: exists b in bindings: b.ps == DONE && b.cs == IN_CALLBACK
reachable both_in_callback: exists b in bindings: b.ps == IN_CALLBACK && b.cs == IN_CALLBACK
"""
    v = verdicts(model(""), spec)
    assert v["client_first"] == v["provider_first"] == v["both_in_callback"] == "witnessed"
    assert v["no_hang"] == "holds"


def test_early_completion_before_the_callback_returns_is_allowed():  # N8, DET-8
    body = """
  ClientDetachProvider { queue(W); return STATUS_PENDING }
  binding workitem W { NmrClientDetachProviderComplete(binding) }
"""
    spec = "reachable early: exists b in bindings: b.cs == COMPLETED_EARLY"
    v = verdicts(model(body), spec)
    assert v["early"] == "witnessed"
    assert v["DET-3"] == v["DET-4"] == "holds"
    assert v["unload_waits_for_bindings"] == "holds" and v["no_hang"] == "holds"


def test_completion_before_detach_was_requested_is_det3():  # §6.5 XDP pre-completion
    body = """
  binding var done: bool = false
  binding task PreComplete when (!done) { done = true; NmrClientDetachProviderComplete(binding) }
"""
    res, _ = check_text(model(body))
    assert res["DET-3"].verdict == "violated"
    assert "before NMR called the client's detach callback" in _last_msg(res["DET-3"], _)


def test_completion_after_success_is_det4():
    body = """
  binding var detached: bool = false
  ClientDetachProvider { detached = true; return STATUS_SUCCESS }
  binding task Late when (detached) { detached = false; NmrClientDetachProviderComplete(binding) }
"""
    res, ts = check_text(model(body))
    assert res["DET-4"].verdict == "violated"


def test_double_completion_is_det3():
    body = """
  binding var n: 0..2 = 0
  ClientDetachProvider { n = 2; return STATUS_PENDING }
  binding task Complete when (n > 0) { n = n - 1; NmrClientDetachProviderComplete(binding) }
"""
    res, ts = check_text(model(body))
    assert res["DET-3"].verdict == "violated"
    assert "called twice" in _last_msg(res["DET-3"], ts)


def test_detach_returning_another_status_is_det1():
    body = """
  var st: NTSTATUS = STATUS_NOINTERFACE
  ClientDetachProvider { return st }
"""
    assert verdicts(model(body))["DET-1"] == "violated"


def test_registration_handle_passed_to_complete_is_det6():  # MsQuic, B16
    body = """
  ClientDetachProvider { return STATUS_PENDING }
  binding task Finish when (true) { NmrClientDetachProviderComplete(Cli) }
"""
    assert verdicts(model(body))["DET-6"] == "violated"


def test_wait_before_deregister_is_drg3_and_returns_invalid_parameter():
    provider = """
driver P {
  provider Prov of X
  Unload {
    w = NmrWaitForProviderDeregisterComplete(Prov)
    assert(w == STATUS_INVALID_PARAMETER)
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
}
"""
    v = verdicts(model("", provider))
    assert v["DRG-3"] == "violated"
    assert all(v[k] == "holds" for k in v if k.startswith("assert@"))


def test_double_deregister_is_drg4():
    provider = """
driver P {
  provider Prov of X
  Unload {
    s = NmrDeregisterProvider(Prov)
    s = NmrDeregisterProvider(Prov)
  }
}
"""
    assert verdicts(model("", provider))["DRG-4"] == "violated"


def test_wait_twice_is_drg4():
    provider = """
driver P {
  provider Prov of X
  Unload {
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
}
"""
    assert verdicts(model("", provider))["DRG-4"] == "violated"


def test_client_claiming_success_without_attaching_is_att1():
    body = "  ClientAttachProvider { return STATUS_SUCCESS }"
    assert verdicts(model(body))["ATT-1"] == "violated"


def test_client_failing_after_successful_attach_is_att2():  # B5c
    body = """
  ClientAttachProvider {
    s = NmrClientAttachProvider()
    return STATUS_INSUFFICIENT_RESOURCES
  }
"""
    assert verdicts(model(body))["ATT-2"] == "violated"


def test_declining_client_leaves_binding_rejected_and_unload_holds():  # B2, O4
    body = "  ClientAttachProvider { return STATUS_NOINTERFACE }"
    spec = """
reachable rejected: exists b in bindings: b.phase == REJECTED
invariant never_detached: forall b in bindings: b.cs == NOT_CALLED
"""
    v = verdicts(model(body), spec)
    assert v["rejected"] == "witnessed" and v["never_detached"] == "holds"
    assert v["unload_waits_for_bindings"] == "holds"


def test_provider_decline_and_client_retry_inside_one_offer():  # B4, WSK retry
    provider = """
driver P {
  provider Prov of X
  var tries: 0..2 = 0
  ProviderAttachClient {
    tries = tries + 1
    if (tries == 1) { return STATUS_NOINTERFACE }
    return STATUS_SUCCESS
  }
}
"""
    body = """
  ClientAttachProvider {
    s = NmrClientAttachProvider()
    if (s == STATUS_NOINTERFACE) { return NmrClientAttachProvider() }
    return s
  }
"""
    spec = "reachable live: exists b in bindings: b.phase == LIVE"
    v = verdicts(model(body, provider), spec)
    assert v["live"] == "witnessed" and v["ATT-2"] == "holds" and v["ATT-3"] == "holds"


def test_late_comer_is_detached_and_wait_covers_it():  # §4.3, N9
    spec = """
reachable attach_during_dereg: exists b in bindings:
  b.phase == PROVIDER_ATTACHING && b.provider.state == DEREG_PENDING
"""
    v = verdicts(model(""), spec)
    assert v["attach_during_dereg"] == "witnessed"
    assert v["unload_waits_for_bindings"] == "holds" and v["no_hang"] == "holds"


def test_no_offer_after_deregistration_started():  # O10
    spec = """
invariant no_new_offer: forall b in bindings:
  b.provider.state in {DEREG_PENDING, DRAINED, CLOSED} implies b.phase != OFFERED
    || b.cs == NOT_CALLED
"""
    # an offer made before the deregistration may still be in flight; a fresh one never starts
    res, ts = check_text(
        model(""),
        """
invariant no_offer_when_closed: forall b in bindings:
  b.provider.state == CLOSED implies b.phase in {NONE, GONE, REJECTED}
""",
    )
    assert res["no_offer_when_closed"].verdict == "holds"
    del spec


def test_cleanup_runs_after_both_sides_done_and_before_wait_returns():  # O7, O9
    body = """
  binding var cleaned: bool = false
  ClientCleanupBindingContext { cleaned = true }
"""
    spec = """
invariant cleanup_after_both_done: forall b in bindings:
  b.phase == CLEANUP implies b.cs == DONE && b.ps == DONE
reachable cleaning: exists b in bindings: b.phase == CLEANUP
invariant closed_means_gone: forall r in registrations: forall b in r.bindings:
  r.state == CLOSED implies b.phase in {NONE, GONE, REJECTED}
"""
    v = verdicts(model(body), spec)
    assert v["cleanup_after_both_done"] == "holds"
    assert v["cleaning"] == "witnessed"
    assert v["closed_means_gone"] == "holds"


def test_detach_once_per_side_when_both_deregister():  # O6, N11
    both = """
driver C {
  client Cli of X
  var n: 0..3 = 0
  ClientDetachProvider { n = n + 1; return STATUS_SUCCESS }
  Unload {
    s = NmrDeregisterClient(Cli)
    NmrWaitForClientDeregisterComplete(Cli)
  }
}
"""
    text = f"npi X\n{PROVIDER}\n{both}"
    res, _ = check_text(
        text,
        "invariant once: C.n <= 1\n"
        "reachable both_dereg: C.Cli.state != ACTIVE && C.Cli.state != NONE "
        "&& P.Prov.state != ACTIVE && P.Prov.state != NONE",
    )
    assert res["once"].verdict == "holds"
    assert res["both_dereg"].verdict == "witnessed"
    assert res["no_hang"].verdict == "holds"
    assert res["range"].verdict == "holds" if "range" in res else True


def test_reregistration_after_close_gets_a_new_offer():  # DRG-8
    provider = """
driver P {
  provider Prov of X
  var round: 0..1 = 0
  task Cycle when (round == 0) {
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
    round = 1
    NmrRegisterProvider(Prov)
  }
}
"""
    spec = "reachable live_again: P.round == 1 && (exists b in bindings: b.phase == LIVE)"
    v = verdicts(model("", provider), spec)
    assert v["live_again"] == "witnessed" and v["REG-5"] == "holds"


def test_register_twice_is_reg5():
    provider = """
driver P {
  provider Prov of X
  task Again when (true) { NmrRegisterProvider(Prov) }
}
"""
    assert verdicts(model("", provider))["REG-5"] == "violated"


def test_out_of_range_assignment_is_reported():
    body = """
  var n: 0..1 = 0
  task Inc when (true) { n = n + 1 }
"""
    res, ts = check_text(model(body))
    assert res["range"].verdict == "violated"


def test_assert_and_error_sites():
    body = """
  var n: 0..3 = 0
  task Inc when (n < 3) { n = n + 1 }
  task Check when (true) { assert(n < 2, "n stays small") }
"""
    res, ts = check_text(model(body))
    name = next(k for k in res if k.startswith("assert@"))
    assert res[name].verdict == "violated"
    # shortest: C's DriverEntry, Inc twice, then Check (a task starts with its first step)
    assert len(res[name].trace) == 4
    assert "assertion failed: n < 2 (n stays small)" == _last_msg(res[name], ts)


def test_lock_release_by_non_holder():
    body = """
  lock L
  task A when (true) { acquire(L); release(L) }
  task B when (true) { release(L) }
"""
    assert verdicts(model(body))["lock"] == "violated"


def test_lock_gives_mutual_exclusion():
    body = """
  lock L
  var inside: 0..2 = 0
  task A when (true) { acquire(L); inside = inside + 1; inside = inside - 1; release(L) }
  task B when (true) { acquire(L); inside = inside + 1; inside = inside - 1; release(L) }
"""
    v = verdicts(model(body), "invariant mutex: C.inside <= 1")
    assert v["mutex"] == "holds" and v["lock"] == "holds" and v["range"] == "holds"


def test_deadlock_on_locks_is_a_hang():
    body = """
  lock L1
  lock L2
  task A when (true) { acquire(L1); acquire(L2); release(L2); release(L1) }
  task B when (true) { acquire(L2); acquire(L1); release(L1); release(L2) }
"""
    assert verdicts(model(body))["no_hang"] == "violated"


def _last_msg(result, ts) -> str:
    a = ts.actions[result.trace.actions[-1]]
    return a.meta.get("fault_msg", "")
