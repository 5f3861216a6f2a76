"""Binding contexts exist only once the design allocates them (nmr-semantics.md §1.8):
ATT-5 and CLN-2 flag only the runs that really leak one, a binding lock lives in its context,
and an explicit allocation must come before the context is handed to NMR (ATT-4, ATT-7)."""

from __future__ import annotations

from support import check_text

from nmrcheck.traces.steps import describe

CLIENT = "driver C { client Cli of N }\n"


def _provider(attach: str, extra: str = "") -> str:
    return (
        "npi N\ndriver P {\n  provider Prov of N\n  binding var ready: bool = false\n"
        f"  ProviderAttachClient {{\n{attach}\n  }}\n"
        "  ProviderCleanupBindingContext { free_binding_context() }\n"
        f"{extra}}}\n" + CLIENT
    )


def _verdict(text: str, prop: str) -> str:
    res, _ = check_text(text)
    return res[prop].verdict if prop in res else "absent"


def test_a_decline_that_allocates_nothing_leaks_nothing():
    assert _verdict(_provider("    return STATUS_NOINTERFACE"), "ATT-5") == "holds"


def test_an_attach_that_frees_its_context_and_fails_leaks_nothing():
    attach = "    ready = true\n    free_binding_context()\n    return STATUS_NOINTERFACE"
    assert _verdict(_provider(attach), "ATT-5") == "holds"


def test_an_attach_that_uses_its_context_and_fails_without_freeing_leaks_it():
    res, ts = check_text(_provider("    ready = true\n    return STATUS_NOINTERFACE"))
    r = res["ATT-5"]
    assert r.verdict == "violated"
    assert describe(ts, r.trace)[-1].fault == "ATT-5"


def test_only_the_failing_branch_that_keeps_its_context_is_att5():
    attach = (
        "    allocate_binding_context()\n    if (ready) {\n      free_binding_context()\n"
        "      return STATUS_NOINTERFACE\n    }\n    return STATUS_SUCCESS"
    )
    assert _verdict(_provider(attach), "ATT-5") == "holds"
    leaky = attach.replace("      free_binding_context()\n", "").replace("(ready)", "(!ready)")
    assert _verdict(_provider(leaky), "ATT-5") == "violated"


def test_a_client_that_frees_after_a_failed_attach_leaks_nothing():
    text = (
        "npi N\ndriver P { provider Prov of N\n  ProviderAttachClient { return STATUS_NOINTERFACE }"
        " }\ndriver C {\n  client Cli of N\n  ClientAttachProvider {\n"
        "    allocate_binding_context()\n    status = NmrClientAttachProvider()\n"
        "    if (status != STATUS_SUCCESS) { free_binding_context() }\n    return status\n  }\n"
        "  ClientCleanupBindingContext { free_binding_context() }\n}\n"
    )
    assert _verdict(text, "ATT-5") == "holds"
    assert _verdict(text.replace("free_binding_context() }\n    return", "skip }\n    return"),
                    "ATT-5") == "violated"


def test_cln2_only_where_a_context_without_cleanup_is_still_held():
    base = (
        "npi N\ndriver P {\n  provider Prov of N\n  var take: bool = false\n"
        "  ProviderAttachClient {\n    if (take) {\n      allocate_binding_context()\n"
        "      return STATUS_SUCCESS\n    }\n    return STATUS_NOINTERFACE\n  }\n"
        "  Unload {\n    s = NmrDeregisterProvider(Prov)\n"
        "    NmrWaitForProviderDeregisterComplete(Prov)\n  }\n}\n"
    )
    declines = base + "driver C { client Cli of N }\n"
    assert _verdict(declines, "CLN-2") != "violated"
    takes = base.replace("var take: bool = false", "var take: bool = true") + CLIENT
    assert _verdict(takes, "CLN-2") == "violated"


def test_explicit_allocation_must_come_before_the_context_is_handed_over():
    client = (
        "npi N\ndriver P { provider Prov of N }\ndriver C {\n  client Cli of N\n"
        "  ClientAttachProvider {\n    return NmrClientAttachProvider()\n"
        "    allocate_binding_context()\n  }\n}\n"
    )
    assert _verdict(client, "ATT-4") == "violated"
    provider = _provider("    return STATUS_SUCCESS\n    allocate_binding_context()")
    assert _verdict(provider, "ATT-7") == "violated"
    early = _provider("    ready = true\n    allocate_binding_context()\n    return STATUS_SUCCESS")
    assert _verdict(early, "use_after_free") == "violated"


def test_a_binding_lock_in_a_freed_context_is_a_use_after_free_at_the_acquire():
    text = (
        "npi N\ndriver P { provider Prov of N\n  Unload {\n    s = NmrDeregisterProvider(Prov)\n"
        "    NmrWaitForProviderDeregisterComplete(Prov)\n  }\n}\n"
        "driver C {\n  client Cli of N\n  binding lock BL\n  ClientDetachProvider {\n"
        "    free_binding_context()\n    acquire(BL)\n    release(BL)\n"
        "    return STATUS_SUCCESS\n  }\n}\n"
    )
    res, ts = check_text(text)
    last = describe(ts, res["use_after_free"].trace)[-1]
    assert (last.fault, last.line) == ("use_after_free", 13)


def test_a_binding_lock_of_a_gone_binding_is_cln3_at_the_acquire():
    text = (
        "npi N\ndriver P { provider Prov of N\n  Unload {\n    s = NmrDeregisterProvider(Prov)\n"
        "    NmrWaitForProviderDeregisterComplete(Prov)\n  }\n}\n"
        "driver C {\n  client Cli of N\n  binding lock BL\n  ClientDetachProvider {\n"
        "    queue(Later)\n    return STATUS_SUCCESS\n  }\n"
        "  binding workitem Later {\n    acquire(BL)\n    release(BL)\n  }\n}\n"
    )
    res, ts = check_text(text)
    last = describe(ts, res["CLN-3"].trace)[-1]
    assert (last.fault, last.line) == ("CLN-3", 16)
