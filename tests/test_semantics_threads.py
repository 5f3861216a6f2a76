"""Threads, IRQL, locks, NPI calls, lifetimes and knobs (nmr-semantics.md §2.3, §4, §5, §7)."""

from __future__ import annotations

from support import verdicts

PROVIDER = """
driver P {
  provider Prov of X
  Unload {
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
}
"""


def model(client_body: str, provider: str = PROVIDER, head: str = "") -> str:
    return f"{head}npi X\n{provider}\ndriver C {{\n  client Cli of X\n{client_body}\n}}\n"


def test_detach_nested_in_deregister_taking_the_callers_lock_is_drg6():  # N5, DRG-6
    body = """
  lock L
  ClientDetachProvider { acquire(L); release(L); return STATUS_SUCCESS }
  Unload {
    acquire(L)
    s = NmrDeregisterClient(Cli)
    release(L)
    NmrWaitForClientDeregisterComplete(Cli)
  }
"""
    v = verdicts(model(body))
    assert v["DRG-6"] == "violated"


def test_same_design_without_the_lock_across_the_call_holds():
    body = """
  lock L
  ClientDetachProvider { acquire(L); release(L); return STATUS_SUCCESS }
  Unload {
    acquire(L)
    release(L)
    s = NmrDeregisterClient(Cli)
    NmrWaitForClientDeregisterComplete(Cli)
  }
"""
    v = verdicts(model(body))
    assert v["DRG-6"] == "holds" and v["no_hang"] == "holds"


def test_wait_while_holding_a_lock_the_completion_takes_is_drg6():
    body = """
  pushlock L
  ClientDetachProvider { queue(W); return STATUS_PENDING }
  binding workitem W { acquire(L); release(L); NmrClientDetachProviderComplete(binding) }
  Unload {
    s = NmrDeregisterClient(Cli)
    acquire(L)
    NmrWaitForClientDeregisterComplete(Cli)
    release(L)
  }
"""
    assert verdicts(model(body))["DRG-6"] == "violated"


def test_wait_inside_a_callback_is_drg6():
    body = """
  var s: NTSTATUS = STATUS_SUCCESS
  ClientAttachProvider {
    NmrWaitForClientDeregisterComplete(Cli)
    return NmrClientAttachProvider()
  }
"""
    assert verdicts(model(body))["DRG-6"] == "violated"


def test_pushlock_in_detach_is_det7_and_spin_lock_is_fine():
    body = """
  pushlock Slow
  lock Fast
  ClientDetachProvider { acquire(Fast); release(Fast); acquire(Slow); release(Slow);
                         return STATUS_SUCCESS }
"""
    v = verdicts(model(body))
    assert v["DET-7"] == "violated"


def test_waiting_while_holding_a_spin_lock_is_irql():
    body = """
  lock Spin
  var ready: bool = false
  task Wait when (true) { acquire(Spin); await ready; release(Spin) }
  task Set when (true) { ready = true }
"""
    assert verdicts(model(body))["irql"] == "violated"


NPI_PROVIDER = """
driver P {
  provider Prov of X
  ProviderDetachClient { return STATUS_SUCCESS }
}
"""


def test_call_after_pending_return_is_call1():
    body = """
  binding var pending: bool = false
  ClientDetachProvider { pending = true; return STATUS_PENDING }
  binding task Call when (pending) { npi_call_begin(); npi_call_end();
                                     NmrClientDetachProviderComplete(binding) }
  Unload { s = NmrDeregisterClient(Cli); NmrWaitForClientDeregisterComplete(Cli) }
"""
    assert verdicts(model(body, NPI_PROVIDER))["CALL-1"] == "violated"


def test_success_with_a_call_in_flight_is_det2_and_counted_pending_holds():
    bad = """
  binding task Call when (true) { npi_call_begin(); npi_call_end() }
  Unload { s = NmrDeregisterClient(Cli); NmrWaitForClientDeregisterComplete(Cli) }
"""
    assert verdicts(model(bad, NPI_PROVIDER))["DET-2"] == "violated"


def test_completion_with_a_call_in_flight_is_det3():
    body = """
  binding var detaching: bool = false
  binding task Call when (!detaching) { npi_call_begin(); npi_call_end() }
  ClientDetachProvider { detaching = true; queue(Finish); return STATUS_PENDING }
  binding workitem Finish { NmrClientDetachProviderComplete(binding) }
  Unload { s = NmrDeregisterClient(Cli); NmrWaitForClientDeregisterComplete(Cli) }
"""
    assert verdicts(model(body, NPI_PROVIDER))["DET-3"] == "violated"


def test_registration_data_freed_early_is_reg1_then_use_after_free():
    provider = """
driver P {
  provider Prov of X
  Unload {
    s = NmrDeregisterProvider(Prov)
    free_registration_data(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
}
"""
    v = verdicts(model("", provider))
    assert v["REG-1"] == "violated" and v["use_after_free"] == "violated"


def test_registration_data_freed_after_close_holds():
    provider = """
driver P {
  provider Prov of X
  Unload {
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
    free_registration_data(Prov)
  }
}
"""
    v = verdicts(model("", provider))
    assert v["REG-1"] == "holds" and v["use_after_free"] == "holds"


def test_context_freed_in_cleanup_holds_and_in_detach_is_cln1():
    good = """
  ClientCleanupBindingContext { free_binding_context() }
  Unload { s = NmrDeregisterClient(Cli); NmrWaitForClientDeregisterComplete(Cli) }
"""
    v = verdicts(model(good))
    assert v["CLN-1"] == "holds" and v["use_after_free"] == "holds"
    assert v.get("CLN-2", "holds") == "holds"
    bad = """
  ClientDetachProvider { free_binding_context(); return STATUS_SUCCESS }
  ClientCleanupBindingContext { skip }
"""
    v = verdicts(model(bad))
    assert v["CLN-1"] == "violated" and v["use_after_free"] == "violated"


DOC_UNLOAD = """
driver P {
  provider Prov of X
  Unload {
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
}
"""
CAREFUL_UNLOAD = """
driver P {
  provider Prov of X
  Unload {
    s = NmrDeregisterProvider(Prov)
    if (s == STATUS_PENDING) { NmrWaitForProviderDeregisterComplete(Prov) }
  }
}
"""


def test_dereg_may_return_success_knob():  # §6.1
    emulator = "option dereg_may_return_success = true\n"
    # Windows: the unconditional wait is right
    assert verdicts(model("", DOC_UNLOAD))["DRG-4"] == "holds"
    # emulators: waiting after STATUS_SUCCESS uses a closed handle
    assert verdicts(model("", DOC_UNLOAD, emulator))["DRG-4"] == "violated"
    # the recommended logic (wait only on PENDING) holds under both
    v = verdicts(model("", CAREFUL_UNLOAD, emulator))
    assert v["DRG-4"] == "holds" and v["unload_waits_for_bindings"] == "holds"


def test_register_may_fail_knob():
    body = """
  DriverEntry { s = NmrRegisterClient(Cli) }
  Unload { s = NmrDeregisterClient(Cli); NmrWaitForClientDeregisterComplete(Cli) }
"""
    assert verdicts(model(body))["DRG-4"] == "holds"
    assert verdicts(model(body, head="option register_may_fail = true\n"))["DRG-4"] == "violated"


def test_detach_order_knob_narrows_the_orders():
    spec = (
        "reachable provider_first: exists b in bindings: b.ps != NOT_CALLED && b.cs == NOT_CALLED"
    )
    assert verdicts(model(""), spec)["provider_first"] == "witnessed"
    head = "option detach_order = client_first\n"
    assert verdicts(model("", head=head), spec)["provider_first"] == "unreachable"


def test_failing_driver_entry_unloads_and_must_close_its_registrations():
    body = """
  DriverEntry {
    NmrRegisterClient(Cli)
    return STATUS_INSUFFICIENT_RESOURCES
  }
"""
    v = verdicts(model(body), "reachable gone: C.state == UNLOADED")
    assert v["gone"] == "witnessed" and v["DRG-1"] == "violated"


def test_work_item_running_after_unload_is_caught():
    body = """
  workitem Late { skip }
  Unload { queue(Late); s = NmrDeregisterClient(Cli); NmrWaitForClientDeregisterComplete(Cli) }
"""
    assert verdicts(model(body))["no_code_after_unload"] == "violated"


def test_returning_while_holding_a_lock_is_reported():
    body = """
  lock L
  task T when (true) { acquire(L) }
"""
    assert verdicts(model(body))["lock"] == "violated"
