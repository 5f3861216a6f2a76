"""The kernel primitives of issue 15: each construct's semantics (verdicts, traces) and its
misuse (the property it breaks, or an error at a source position)."""

from __future__ import annotations

import pytest
from support import check_text, verdicts

from nmrcheck.errors import InputError
from nmrcheck.nmr.load import load_text

# A provider and a client that attach and detach; {p} and {c} are extra provider and client
# members, {o} options.
BASE = """{o}
npi N
driver P {{
  provider Prov of N
{p}
  Unload {{
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }}
}}
driver C {{
  client Cli of N
{c}
}}
"""


def model(p: str = "", c: str = "", o: str = "") -> str:
    return BASE.format(p=p, c=c, o=o)


def v(p: str = "", c: str = "", o: str = "", spec: str | None = None) -> dict[str, str]:
    return verdicts(model(p, c, o), spec)


def position(text: str) -> tuple[int, int]:
    """Where loading ``text`` fails (line, column of the first finding)."""
    with pytest.raises(InputError) as exc:
        load_text(text, "t.nmr")
    f = exc.value.findings[0]
    assert f.file == "t.nmr"
    return f.line, f.col


def line_of(text: str, needle: str) -> int:
    return next(k for k, s in enumerate(text.splitlines(), 1) if needle in s)


# -- procedures ------------------------------------------------------------------------------
def test_a_proc_is_inlined_at_each_call():
    with_proc = model(
        p="""  var n: 0..3 = 0
  proc Bump(by) { n = n + by }
  task T when (n == 0) { Bump(1); Bump(2) }"""
    )
    by_hand = model(
        p="""  var n: 0..3 = 0
  task T when (n == 0) { n = n + 1; n = n + 2 }"""
    )
    a, ts_a = check_text(with_proc)
    b, ts_b = check_text(by_hand)
    assert {k: r.verdict for k, r in a.items()} == {k: r.verdict for k, r in b.items()}
    assert len(ts_a.vars) == len(ts_b.vars)


def test_return_leaves_the_proc_only():
    spec = "invariant reached: P.n != 3"
    text = """  var n: 0..3 = 0
  proc SetIf(c) {
    if (c) { return }
    n = 1
  }
  task T when (n == 0) { SetIf(true); n = n + 2 }"""
    res, _ = check_text(model(p=text), spec)
    assert res["reached"].verdict == "holds"  # returned: n never becomes 1, then 3
    res, _ = check_text(model(p=text.replace("SetIf(true)", "SetIf(false)")), spec)
    assert res["reached"].verdict == "violated"


def test_recursion_is_rejected_at_the_call_that_closes_the_cycle():
    text = model(
        p="""  proc F() { G() }
  proc G() { F() }
  task T when (true) { F() }"""
    )
    line = line_of(text, "proc G()")
    assert position(text) == (line, text.splitlines()[line - 1].index("F()") + 1)


def test_a_proc_call_with_the_wrong_arity_is_an_error():
    text = model(p="  proc F(a) { skip }\n  task T when (true) { F() }")
    assert position(text)[0] == line_of(text, "task T")


def test_a_proc_cannot_assign_an_expression_argument():
    text = model(p="  var n: 0..3 = 0\n  proc F(a) { a = 1 }\n  task T when (true) { F(n + 1) }")
    assert position(text)[0] == line_of(text, "task T")


# -- rundown protection ----------------------------------------------------------------------
RUNDOWN = """  rundown R
  var held: bool = false
  var denied: bool = false
  task Hold when (!held) { var ok: bool = false; ok = ExAcquireRundownProtection(R); held = ok }
  task Late when (held && !denied) {
    var ok: bool = false
    ok = ExAcquireRundownProtection(R)
    if (!ok) { denied = true } else { ExReleaseRundownProtection(R) }
  }
  task Drop when (held) { held = false; ExReleaseRundownProtection(R) }
  task Close when (true) { ExWaitForRundownProtectionRelease(R) }"""


def test_acquire_fails_once_the_wait_has_begun_and_the_wait_returns_when_drained():
    spec = (
        "reachable denied_while_waiting: P.R == RUNNING_DOWN && P.denied && P.R.refs == 1\n"
        "reachable drained: P.R == RUN_DOWN && P.denied\n"
        "invariant nothing_after: P.R == RUN_DOWN implies P.R.refs == 0"
    )
    res, _ = check_text(model(p=RUNDOWN), spec)
    assert res["denied_while_waiting"].verdict == "witnessed"
    assert res["drained"].verdict == "witnessed"
    assert res["nothing_after"].verdict == "holds"


def test_a_rundown_wait_cannot_be_in_an_atomic_block():
    text = model(p="  rundown R\n  task T when (true) { atomic { ExWaitForRundownProtectionRelease(R) } }")
    assert position(text)[0] == line_of(text, "atomic {")


def test_release_without_acquire_is_misuse():
    got = v(p="  rundown R\n  task T when (true) { ExReleaseRundownProtection(R) }")
    assert got["rundown"] == "violated"


def test_a_second_waiter_is_misuse_a_wait_on_a_run_down_rundown_is_not():
    two = """  rundown R
  var held: bool = false
  task Hold when (!held) { var ok: bool = false; ok = ExAcquireRundownProtection(R); held = ok }
  task W1 when (held) { ExWaitForRundownProtectionRelease(R) }
  task W2 when (held) { ExWaitForRundownProtectionRelease(R) }"""
    assert v(p=two)["rundown"] == "violated"
    again = """  rundown R = RUN_DOWN
  task W when (true) { ExWaitForRundownProtectionRelease(R) }"""
    assert v(p=again).get("rundown", "holds") == "holds"


def test_reinitialize_only_after_run_down():
    bad = "  rundown R\n  task T when (true) { ExReInitializeRundownProtection(R) }"
    assert v(p=bad)["rundown"] == "violated"
    spec = "reachable again: P.R == ACTIVE && P.R.refs == 1"
    good = """  rundown R = RUN_DOWN
  var done: bool = false
  task T when (!done) {
    var ok: bool = false
    ExReInitializeRundownProtection(R)
    ok = ExAcquireRundownProtection(R)
    done = true
  }"""
    res, _ = check_text(model(p=good), spec)
    assert res["again"].verdict == "witnessed"


def test_acquire_after_free_of_its_object():
    got = v(
        p="""  object Ctx = VALID
  rundown R in Ctx
  task Free when (true) { free(Ctx) }
  task Use when (true) { var ok: bool = false; ok = ExAcquireRundownProtection(R) }"""
    )
    assert got["use_after_free"] == "violated"


def test_the_rundown_wait_blocks_so_it_is_det7_in_a_detach_callback():
    got = v(p="  rundown R\n  ProviderDetachClient { ExWaitForRundownProtectionRelease(R) }")
    assert got["DET-7"] == "violated"
    got = v(p="  rundown R\n  ProviderDetachClient { ExWaitForRundownProtectionRelease(R) }",
            o="option detach_irql = caller")
    assert got.get("DET-7", "holds") == "holds"


# -- reference counts --------------------------------------------------------------------------
def test_threshold_actions_run_on_the_releasing_thread():
    text = """  refcount C = 2
  var freed: bool = false
  var releases: 0..2 = 0
  on C == 0 { freed = true }
  task Release when (releases < 2) { releases = releases + 1; dereference(C) }"""
    spec = "invariant freed_at_zero: P.freed implies P.C == 0\nreachable gone: P.freed"
    res, _ = check_text(model(p=text), spec)
    assert res["gone"].verdict == "witnessed"
    assert res["freed_at_zero"].verdict == "holds"
    assert res.get("refcount") is None or res["refcount"].verdict == "holds"


def test_underflow_and_use_after_the_last_release():
    assert v(p="  refcount C\n  task T when (true) { dereference(C) }")["refcount"] == "violated"
    got = v(p="  refcount C\n  var d: bool = false\n"
              "  task T when (!d) { d = true; dereference(C); reference(C) }")
    assert got["use_after_free"] == "violated"


def test_dereference_returns_the_new_count():
    text = """  refcount C = 2
  var seen: 0..1 = 1
  task T when (seen == 1) { seen = dereference(C) }"""
    res, _ = check_text(model(p=text), "reachable one: P.seen == 1 && P.C == 1")
    assert res["one"].verdict == "witnessed"


# -- IRQL ------------------------------------------------------------------------------------
def test_blocking_in_a_routine_at_dispatch_level_is_irql():
    at = """  var f: bool = false
  task T at DISPATCH_LEVEL when (true) { await f }"""
    assert v(p=at)["irql"] == "violated"
    assert "irql" not in v(p=at.replace(" at DISPATCH_LEVEL", ""))


def test_raise_and_lower():
    raised = """  event E
  task T when (true) { KeRaiseIrql(DISPATCH_LEVEL); s = KeWaitForSingleObject(E); KeLowerIrql(PASSIVE_LEVEL) }"""
    assert v(p=raised)["irql"] == "violated"
    lowered = """  event E = true
  task T when (true) { KeRaiseIrql(DISPATCH_LEVEL); KeLowerIrql(PASSIVE_LEVEL); s = KeWaitForSingleObject(E) }"""
    assert v(p=lowered).get("irql", "holds") == "holds"
    assert v(p="  task T when (true) { KeLowerIrql(PASSIVE_LEVEL) }")["irql"] == "violated"
    assert v(p="  task T when (true) { KeRaiseIrql(DISPATCH_LEVEL) }")["irql"] == "violated"


def test_a_dpc_runs_at_dispatch_level():
    text = """  var f: bool = false
  dpc D { await f }
  task T when (true) { queue(D) }"""
    assert v(p=text)["irql"] == "violated"


def test_push_locks_shared_and_exclusive():
    text = """  pushlock L
  var readers: 0..2 = 0
  var writing: bool = false
  task R1 when (true) { acquire_shared(L); readers = readers + 1; readers = readers - 1; release_shared(L) }
  task R2 when (true) { acquire_shared(L); readers = readers + 1; readers = readers - 1; release_shared(L) }
  task W when (true) { acquire(L); writing = true; writing = false; release(L) }"""
    spec = "reachable both: P.readers == 2\ninvariant excluded: !(P.writing && P.readers > 0)"
    res, _ = check_text(model(p=text), spec)
    assert res["both"].verdict == "witnessed"
    assert res["excluded"].verdict == "holds"
    got = v(p="  pushlock L\n  task T when (true) { release_shared(L) }")
    assert got["lock"] == "violated"


def test_an_ex_spin_lock_held_shared_raises_to_dispatch():
    text = """  rwspinlock L
  var f: bool = true
  task T when (true) { acquire_shared(L); await f; release_shared(L) }"""
    assert v(p=text)["irql"] == "violated"


def test_a_callback_nested_in_a_call_from_dispatch_runs_there():
    caller = """  pushlock L
  ProviderDetachClient { acquire(L); release(L) }
  dpc Stop { s = NmrDeregisterProvider(Prov) }
  task Kick when (true) { queue(Stop) }"""
    # NMR may run the detach inside NmrDeregisterProvider, on the DPC's thread: at DISPATCH
    text = model(p=caller, o="option detach_irql = caller").replace(
        "  Unload {\n    s = NmrDeregisterProvider(Prov)\n"
        "    NmrWaitForProviderDeregisterComplete(Prov)\n  }\n", "")
    res, _ = check_text(text)
    assert res["irql"].verdict == "violated"


# -- work items and DPCs ---------------------------------------------------------------------
def test_unload_while_a_work_item_can_run():
    queued = "  workitem W { skip }\n  Unload { queue(W) }"
    text = model(p=queued).replace(
        "  Unload {\n    s = NmrDeregisterProvider(Prov)\n"
        "    NmrWaitForProviderDeregisterComplete(Prov)\n  }\n", "")
    text = text.replace("provider Prov of N", "provider Prov of N deferred")
    assert verdicts(text)["work_after_unload"] == "violated"
    kept = text.replace("workitem W", "ioworkitem W")
    got = verdicts(kept)
    assert got.get("work_after_unload", "holds") == "holds"
    assert got["no_code_after_unload"] == "holds"


# -- events and timed waits ------------------------------------------------------------------
def test_a_timed_wait_may_return_status_timeout():
    text = """  event E
  var out: NTSTATUS = STATUS_PENDING
  task T when (out == STATUS_PENDING) { skip; out = KeWaitForSingleObject(E, 10) }"""
    res, _ = check_text(model(p=text), "reachable timed_out: P.out == STATUS_TIMEOUT")
    assert res["timed_out"].verdict == "witnessed"
    res, _ = check_text(model(p=text.replace("(E, 10)", "(E)")), "reachable t: P.out == STATUS_TIMEOUT")
    assert res["t"].verdict == "unreachable"
    assert res["no_hang"].verdict == "violated"  # never set: blocked forever


def test_a_synchronization_event_resets_as_it_satisfies_a_wait():
    text = """  syncevent E = true
  var got: 0..2 = 0
  task T when (got < 2) { s = KeWaitForSingleObject(E); got = got + 1 }"""
    res, _ = check_text(model(p=text), "reachable twice: P.got == 2")
    assert res["twice"].verdict == "unreachable"
    res, _ = check_text(model(p=text.replace("syncevent", "event")), "reachable twice: P.got == 2")
    assert res["twice"].verdict == "witnessed"


# -- epochs ----------------------------------------------------------------------------------
def test_synchronize_waits_for_the_epochs_entered_before_it():
    text = """  var in_epoch: bool = false
  var synced: bool = false
  task Reader when (!in_epoch && !synced) { ebpf_epoch_enter(); in_epoch = true; in_epoch = false; ebpf_epoch_exit() }
  task Sync when (!synced) { ebpf_epoch_synchronize(); synced = true }"""
    res, _ = check_text(model(p=text), "invariant ok: true\nreachable waited: P.in_epoch && !P.synced")
    assert res["no_hang"].verdict == "holds"
    assert v(p="  task T when (true) { ebpf_epoch_exit() }")["epoch"] == "violated"


def test_synchronize_inside_ones_own_epoch_deadlocks():
    text = "  task T when (true) { ebpf_epoch_enter(); ebpf_epoch_synchronize(); ebpf_epoch_exit() }"
    assert v(p=text)["no_hang"] == "violated"


# -- failure points and memory ---------------------------------------------------------------
def test_may_fail_is_explored_both_ways():
    text = """  var r: {NONE, OK, FAILED} = NONE
  task T when (r == NONE) { var ok: bool = false; ok = may_fail("alloc"); if (ok) { r = OK } else { r = FAILED } }"""
    spec = "reachable ok: P.r == OK\nreachable failed: P.r == FAILED"
    res, _ = check_text(model(p=text), spec)
    assert res["ok"].verdict == res["failed"].verdict == "witnessed"


def test_objects_use_after_free_and_double_free():
    got = v(p="  object O\n  task T when (true) { allocate(O); free(O); use(O) }")
    assert got["use_after_free"] == "violated"
    got = v(p="  object O = VALID\n  task T when (true) { free(O) }")
    assert got["use_after_free"] == "violated"  # the second run frees it again


# -- peer inspection and NPI function bodies -------------------------------------------------
def test_attach_declines_on_the_peers_registration_data():
    text = model(
        c="""  ClientAttachProvider {
    if (peer.version < 2) { return STATUS_NOINTERFACE }
    return NmrClientAttachProvider()
  }""",
    ).replace("provider Prov of N", "provider Prov of N with (version = 1)")
    spec = "reachable attached: exists b in bindings: b.phase == LIVE"
    res, _ = check_text(text, spec)
    assert res["attached"].verdict == "unreachable"
    res, _ = check_text(text.replace("version = 1", "version = 2"), spec)
    assert res["attached"].verdict == "witnessed"


def test_a_missing_peer_attribute_is_an_error_at_its_use():
    text = model(c="  ClientAttachProvider {\n    if (peer.version < 2) { return STATUS_NOINTERFACE }\n"
                   "    return NmrClientAttachProvider()\n  }")
    line = line_of(text, "peer.version")
    assert position(text) == (line, text.splitlines()[line - 1].index("peer") + 1)


def test_an_npi_function_runs_on_the_callers_thread_at_its_irql():
    # the provider's function takes a push lock: fine from a PASSIVE task, irql from DISPATCH
    fn = "  pushlock L\n  dispatch Open { acquire(L); release(L) }"
    calls = "  binding task UseIt{at} when (true) {{ npi_call(Open) }}"
    assert "irql" not in v(p=fn, c=calls.format(at=""))
    assert v(p=fn, c=calls.format(at=" at DISPATCH_LEVEL"))["irql"] == "violated"


def test_an_npi_function_that_uses_freed_state_is_call3():
    fn = """  object Table = VALID
  dispatch Open { use(Table) }
  task Drop when (true) { free(Table) }"""
    got = v(p=fn, c="  binding task UseIt when (true) { npi_call(Open) }")
    assert got["CALL-3"] == "violated"


# -- a NULL cleanup callback: the module frees its own binding context ------------------------
SELF_FREE = """  ProviderAttachClient {{ allocate_binding_context(); return STATUS_SUCCESS }}
  ProviderDetachClient {{
{before}    queue(Done)
    return STATUS_PENDING
  }}
  binding ioworkitem Done {{
{order}
  }}"""


def test_freeing_after_the_own_completion_holds():
    text = SELF_FREE.format(before="", order="    NmrProviderDetachClientComplete(binding)\n"
                                             "    free_binding_context()")
    got = v(p=text)
    assert got.get("CLN-1", "holds") == got.get("CLN-2", "holds") == "holds"
    assert got.get("use_after_free", "holds") == "holds"


def test_freeing_before_the_completion_is_cln1_and_never_freeing_is_cln2():
    early = SELF_FREE.format(before="", order="    free_binding_context()\n"
                                              "    NmrProviderDetachClientComplete(binding)")
    assert v(p=early)["CLN-1"] == "violated"
    never = SELF_FREE.format(before="", order="    NmrProviderDetachClientComplete(binding)\n"
                                              "    skip\n    allocate_binding_context_never()")
    never = never.replace("    allocate_binding_context_never()", "")
    text = never + "\n  binding task Spare when (false) { free_binding_context() }"
    assert v(p=text)["CLN-2"] == "violated"


def test_a_kept_binding_handle_completes_its_binding():
    text = """  var h: HANDLE = NULL
  var pend: bool = false
  ProviderAttachClient {{ h = binding; return STATUS_SUCCESS }}
  ProviderDetachClient {{ pend = true; return STATUS_PENDING }}
  task Finish when (pend) {{ pend = false; NmrProviderDetachClientComplete(h) }}"""
    got = v(p=text.replace("{{", "{").replace("}}", "}"))
    assert got.get("DET-6", "holds") == "holds"
    assert got["provider_detach_completes"] in ("holds", "violated")  # a task: not forced
    null = text.replace("h = binding; ", "").replace("{{", "{").replace("}}", "}")
    assert v(p=null)["DET-6"] == "violated"


# -- who stops a driver ----------------------------------------------------------------------
def test_unload_when_and_fair_unload():
    base = model(p="  var stop: bool = false\n  task Ask when (!stop) { stop = true }")
    gated = base.replace("  Unload {\n    s = NmrDeregisterProvider",
                         "  Unload when (P.stop) {\n    s = NmrDeregisterProvider", 1)
    res, _ = check_text(gated, "invariant only_when_asked: P.state == UNLOADING implies P.stop")
    assert res["only_when_asked"].verdict == "holds"
    res, _ = check_text(base, "invariant only_when_asked: P.state == UNLOADING implies P.stop")
    assert res["only_when_asked"].verdict == "violated"
    live = "eventually gone: P.state == UNLOADED"
    assert check_text(base, live)[0]["gone"].verdict == "violated"
    fair = base.replace("  task Ask", "  fair Unload\n  task Ask")
    assert check_text(fair, live)[0]["gone"].verdict == "holds"


# -- misuse found when the model is loaded ----------------------------------------------------
@pytest.mark.parametrize(
    "member, needle",
    [
        ("  task T when (true) { ExReleaseRundownProtection(Q) }", "(Q)"),
        ("  on Q == 0 { skip }", "on Q"),
        ("  rundown R in Nowhere", "rundown R"),
        ("  dpc D at PASSIVE_LEVEL { skip }", "dpc D"),
        ("  refcount C\n  on C == 0 { return }", "on C"),
        ("  task T when (true) { KeRaiseIrql(PASSIVE_LEVEL) }", "KeRaise"),
        ("  refcount C = 0", "= 0"),
        ("  task T when (true) { npi_call(Open) }", "npi_call"),
    ],
)
def test_misuse_has_a_position(member: str, needle: str):
    text = model(p=member)
    line = line_of(text, needle)
    got = position(text)
    assert got[0] == line
    assert got[1] >= 1
