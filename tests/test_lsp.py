"""nmrcheck lsp: a real LSP exchange over stdio with the server process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import run_cli

pytest.importorskip("pygls", reason="nmrcheck lsp needs pygls (pip install -e '.[test]')")

from lsp_client import LspClient  # noqa: E402

INFO, ERROR = 3, 1

DESIGN = """\
npi N  // checked: DRG-2
driver P {
  provider Prov of N
  spinlock L
  var count: 0..3 = 0
  Unload {
    acquire(L)
    count = count + 1
    release(L)
    status = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
  ProviderDetachClient {
    atomic { count = count - 1;  }
    return STATUS_SUCCESS
  }
}
driver C {
  client Cli of N
  binding var calls: 0..2 = 0
  ClientAttachProvider {
    calls = 0
    return NmrClientAttachProvider()
  }
  binding workitem Done { NmrClientDetachProviderComplete(binding) }
  ClientDetachProvider { queue(Done); return STATUS_PENDING }
}
"""


def pos(text: str, needle: str, nth: int = 0, shift: int = 0) -> dict:
    """The LSP position of the ``nth`` occurrence of ``needle`` (plus ``shift`` characters)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += shift
    line = text.count("\n", 0, at)
    return {"line": line, "character": at - (text.rfind("\n", 0, at) + 1)}


SETTINGS = {"searchOnSave": True, "maxStates": 20000, "timeout": 20}


def _end(client: LspClient) -> None:
    if client.proc.poll() is None:
        client.proc.kill()
        client.proc.wait()


@pytest.fixture
def lsp():
    client = LspClient()
    client.start(SETTINGS)
    yield client
    _end(client)


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    """One server with DESIGN open, shared by the tests that only ask about it (hover, go to
    definition, completion): a server costs about 1 s to start. It must shut down cleanly."""
    client = LspClient()
    try:
        client.start(SETTINGS)
        path = tmp_path_factory.mktemp("lsp") / "g.nmr"
        path.write_text(DESIGN)
        yield client, client.open(path)
        assert client.stop() == 0
    finally:
        _end(client)


def cli_errors(path: Path) -> list[tuple[int, int, str]]:
    r = run_cli("check", str(path))
    assert r.code == 2
    return [(int(m[1]), int(m[2]), m[3]) for m in
            re.finditer(rf"^{re.escape(str(path))}:(\d+):(\d+): error: (.*)$", r.err, re.M)]


def lsp_errors(diags: list) -> list[tuple[int, int, str]]:
    return [(d["range"]["start"]["line"] + 1, d["range"]["start"]["character"] + 1,
             d["message"]) for d in diags if d["severity"] == ERROR]


@pytest.mark.parametrize("mistake", [  # a server each (about 1 s): the first in the fast tier
    ("queue(Done)", "queue(Dne)"),                       # an unknown work item
    pytest.param(("count = count + 1", "count = count + = 1"),  # a syntax error
                 marks=pytest.mark.slow),
    pytest.param(("NmrWaitForProviderDeregisterComplete(Prov)",
                  "NmrWaitForClientDeregisterComplete(Prov)"), marks=pytest.mark.slow),
])
def test_diagnostics_on_open_are_the_cli_s_errors(lsp, tmp_path, mistake):
    bad = tmp_path / "bad.nmr"
    bad.write_text(DESIGN.replace(*mistake))
    expected = cli_errors(bad)
    assert expected
    uri = lsp.open(bad)
    assert lsp_errors(lsp.diagnostics(uri)) == expected
    assert lsp.stop() == 0


@pytest.mark.slow  # a server each (about 1 s): full suite only
def test_columns_are_utf16_as_lsp_counts_them(lsp, tmp_path):
    bad = tmp_path / "wide.nmr"
    bad.write_text(DESIGN.replace("    count = count + 1", "    /* 🙂 */ count = count + = 1"))
    (line, col, msg), = cli_errors(bad)
    diag, = lsp.diagnostics(lsp.open(bad))
    assert diag["range"]["start"] == {"line": line - 1, "character": col - 1 + 1}  # 🙂: 2 units
    assert diag["message"] == msg


@pytest.mark.slow  # a server each (about 1 s): full suite only
def test_diagnostics_follow_changes(lsp, tmp_path):
    path = tmp_path / "d.nmr"
    path.write_text(DESIGN)
    uri = lsp.open(path)
    assert lsp.diagnostics(uri) == []
    change = {"textDocument": {"uri": uri, "version": 2},
              "contentChanges": [{"text": DESIGN.replace("queue(Done)", "queue(Dne)")}]}
    lsp.notify("textDocument/didChange", change)
    (diag,) = lsp.diagnostics(uri)
    assert diag["range"]["start"] == pos(DESIGN, "Done)")
    assert "Dne" in diag["message"]
    edit = {"range": {"start": pos(DESIGN, "Done)", 0, 1), "end": pos(DESIGN, "Done)", 0, 1)},
            "text": "o"}  # incremental: type the missing letter back
    lsp.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                          "contentChanges": [edit]})
    assert lsp.diagnostics(uri) == []
    assert lsp.stop() == 0


def test_save_adds_the_bounded_search_verdict(lsp, tmp_path):
    path = tmp_path / "nowait.nmr"
    text = DESIGN.replace("    NmrWaitForProviderDeregisterComplete(Prov)\n", "")
    path.write_text(text)
    uri = lsp.open(path)
    assert lsp.diagnostics(uri) == []
    lsp.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    diags = lsp.diagnostics(uri, lambda ds: any(d["severity"] == INFO for d in ds), 90)
    drg2 = [d for d in diags if d["message"].startswith("DRG-2 violated")]
    assert drg2 and all(d["severity"] == INFO for d in diags)
    r = run_cli("check", str(path), "--property", "DRG-2")
    assert r.code == 1
    step_line = int(re.findall(r"\((?:[^()]*nowait\.nmr):(\d+)\)\n      !! DRG-2", r.out)[0])
    assert drg2[0]["range"]["start"]["line"] == step_line - 1


@pytest.mark.slow  # a server each (about 1 s): full suite only
def test_save_of_a_holding_design_says_so(lsp, tmp_path):
    path = tmp_path / "ok.nmr"
    path.write_text(DESIGN)
    uri = lsp.open(path)
    lsp.diagnostics(uri)
    lsp.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    (d,) = lsp.diagnostics(uri, lambda ds: bool(ds), 90)
    assert d["severity"] == INFO
    assert re.match(r"bounded search on save: all \d+ properties hold", d["message"])
    assert run_cli("check", str(path)).code == 0


def hover(lsp, uri, text, needle, nth=0, shift=1) -> str:
    r = lsp.request("textDocument/hover", {"textDocument": {"uri": uri},
                                           "position": pos(text, needle, nth, shift)})
    return r["contents"]["value"] if r else ""


def test_hover_gives_meaning_and_section(design):
    lsp, uri = design
    api = hover(lsp, uri, DESIGN, "NmrDeregisterProvider")
    assert "NmrDeregisterProvider(R)" in api and "nmr-semantics.md §2.1" in api
    cb = hover(lsp, uri, DESIGN, "ProviderDetachClient")
    assert "provider callback" in cb and "nmr-semantics.md §2.2" in cb
    ob = hover(lsp, uri, DESIGN, "DRG-2", shift=4)
    assert "(obligation)" in ob and "nmr-semantics.md §5.6" in ob
    assert "returns before Unload returns" in ob  # the statement of vocab.OBLIGATIONS
    assert hover(lsp, uri, DESIGN, "count", shift=2).startswith("**variable count: 0..3**")
    assert hover(lsp, uri, DESIGN, "    ", shift=1) == ""


@pytest.mark.parametrize("use, decl", [
    (("Prov)", 0), ("Prov of", 0)),          # a registration
    (("count - 1", 0), ("count:", 0)),       # a driver variable
    (("L)", 0), ("L\n", 0)),                 # a lock
    (("Done)", 0), ("Done {", 0)),           # a work item
    (("calls = 0", 0), ("calls:", 0)),       # a binding variable
    (("status", 0), ("status", 0)),          # an implicit NTSTATUS local
    (("N\n", 1), ("N  //", 0)),              # an NPI
])
def test_go_to_definition(design, use, decl):
    lsp, uri = design
    r = lsp.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                "position": pos(DESIGN, *use)})
    start = pos(DESIGN, *decl)
    word = re.match(r"\w+", DESIGN[DESIGN.index(decl[0]):]).group(0)
    assert r == {"uri": uri, "range": {"start": start, "end": {
        "line": start["line"], "character": start["character"] + len(word)}}}


@pytest.mark.slow  # a server each (about 1 s): full suite only
def test_go_to_a_driver_from_a_spec(lsp, tmp_path):
    model = tmp_path / "m.nmr"
    model.write_text(DESIGN)
    muri = lsp.open(model)
    spec = tmp_path / "s.spec"
    stext = "invariant p_loaded: P.state == LOADED || P.Prov.state == ACTIVE\n"
    spec.write_text(stext)
    suri = lsp.open(spec)
    r = lsp.request("textDocument/definition", {"textDocument": {"uri": suri},
                                                "position": pos(stext, "P.state")})
    assert r["uri"] == muri and r["range"]["start"] == pos(DESIGN, "P {")
    r = lsp.request("textDocument/definition", {"textDocument": {"uri": suri},
                                                "position": pos(stext, "Prov", 0, 1)})
    assert r["range"]["start"] == pos(DESIGN, "Prov of")


def labels(lsp, uri, position) -> set[str]:
    r = lsp.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                "position": position})
    items = r["items"] if isinstance(r, dict) else r
    return {i["label"] for i in items}


def test_completion_offers_what_is_valid_at_the_cursor(design):
    lsp, uri = design
    members = labels(lsp, uri, pos(DESIGN, "  spinlock L"))  # a member of provider P
    assert {"ProviderAttachClient", "ProviderCleanupBindingContext", "DriverEntry"} <= members
    assert not members & {"ClientDetachProvider", "Unload", "ProviderDetachClient"}
    unload = labels(lsp, uri, pos(DESIGN, "    release(L)"))
    assert {"NmrDeregisterProvider(Prov)", "NmrWaitForProviderDeregisterComplete(Prov)",
            "acquire(L)"} <= unload
    assert not unload & {"NmrClientAttachProvider()", "NmrProviderDetachClientComplete(binding)",
                         "NmrDeregisterClient(Cli)"}
    atomic = labels(lsp, uri, pos(DESIGN, " }\n    return STATUS_SUCCESS"))
    assert "NmrProviderDetachClientComplete(binding)" in atomic
    assert not atomic & {"NmrDeregisterProvider(Prov)",
                         "NmrWaitForProviderDeregisterComplete(Prov)"}
    attach = labels(lsp, uri, pos(DESIGN, "    calls = 0"))
    assert {"NmrClientAttachProvider()", "allocate_binding_context()"} <= attach
    assert "NmrWaitForClientDeregisterComplete(Cli)" not in attach  # DRG-6: not in a callback
    work = labels(lsp, uri, pos(DESIGN, "NmrClientDetachProviderComplete"))
    assert {"NmrClientDetachProviderComplete(binding)", "npi_call_begin()"} <= work


@pytest.mark.slow  # a server each (about 1 s): full suite only
def test_completion_works_while_the_text_does_not_parse(lsp, tmp_path):
    path = tmp_path / "typing.nmr"
    text = DESIGN.replace("    release(L)\n", "    release(L)\n    Nmr\n")
    path.write_text(text)
    uri = lsp.open(path)
    assert lsp_errors(lsp.diagnostics(uri))  # it does not parse
    got = labels(lsp, uri, pos(text, "    Nmr\n", 0, 7))
    assert "NmrDeregisterProvider(Prov)" in got


@pytest.mark.slow  # a server each (about 1 s): full suite only
def test_the_bound_on_save_comes_from_the_settings(tmp_path):
    client = LspClient()
    try:
        client.start({"maxStates": 5, "timeout": 20})
        path = tmp_path / "big.nmr"
        path.write_text(DESIGN)
        uri = client.open(path)
        client.diagnostics(uri)
        client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        (d,) = client.diagnostics(uri, lambda ds: bool(ds), 90)
        assert d["severity"] == INFO and d["range"]["start"] == {"line": 0, "character": 0}
        assert re.match(r"bounded search on save: (\d+) of \1 properties unknown \(state limit "
                        r"5 reached", d["message"])
        assert client.stop() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
