"""A violated lifecycle property says, at the step that breaks it, what breaks it (which code
still runs in the unloaded driver, which binding is still live); a hang says what the blocked
thread waits for (which binding side is still PENDING, which completion never came)."""

from __future__ import annotations

from support import run_cli

NO_WAIT = "models/seeds/provider-unload-no-wait.nmr"
NEVER_COMPLETED = "models/seeds/detach-pending-never-completed.nmr"


def _trace(model: str, prop: str) -> list[dict]:
    r = run_cli("check", model, "--json", "--property", prop)
    assert r.code == 1
    (entry,) = r.json["models"][0]["properties"]
    return entry


def test_the_breaking_step_names_the_binding_still_attached():
    last = _trace(NO_WAIT, "unload_waits_for_bindings")["trace"][-1]
    assert "unload_waits_for_bindings" in last["violates"].split(", ")
    binding = "ExampleClient[1].Cli~ExampleProvider.Prov"
    assert f"binding {binding} is OFFERED" in last["message"]
    assert "ExampleProvider is UNLOADED" in last["message"]


def test_the_breaking_step_names_the_code_still_running_in_the_unloaded_driver():
    last = _trace(NO_WAIT, "no_code_after_unload")["trace"][-1]
    assert last["violates"] == "no_code_after_unload"
    assert "ProviderAttachClient for ExampleClient[1].Cli~ExampleProvider.Prov" in last["message"]


def test_a_queued_work_item_is_named(tmp_path):
    model = tmp_path / "w.nmr"
    model.write_text(
        "npi N\ndriver P {\n  provider Prov of N\n  workitem Flush { skip }\n"
        "  Unload {\n    queue(Flush)\n    s = NmrDeregisterProvider(Prov)\n"
        "    NmrWaitForProviderDeregisterComplete(Prov)\n  }\n}\n"
    )
    last = _trace(str(model), "no_code_after_unload")["trace"][-1]
    assert "work item Flush is queued" in last["message"]


def test_a_hang_says_which_side_is_pending_and_which_completion_never_came():
    entry = _trace(NEVER_COMPLETED, "no_hang")
    (line,) = entry["blocked"]
    assert "ExampleProvider.Prov" in line
    assert "PendingClient.Cli~ExampleProvider.Prov is DETACHING" in line
    assert "client side is PENDING" in line and "NmrClientDetachProviderComplete" in line


def test_a_hang_on_a_lock_names_its_holder(tmp_path):
    model = tmp_path / "l.nmr"
    model.write_text(
        "npi N\ndriver P {\n  provider Prov of N\n  lock L\n  var done: bool = false\n"
        "  task Grab when (!done) { acquire(L)\n    done = true }\n"
        "  task Want { skip\n    acquire(L)\n    release(L) }\n}\n"
    )
    entry = _trace(str(model), "no_hang")
    assert any("waits for lock L, held by P.Grab" in b for b in entry["blocked"])
