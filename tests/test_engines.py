"""The engines through the command line: BMC, k-induction, PDR with certificates, auto, and
their agreement with the explicit engine."""

from __future__ import annotations

import pytest
from support import run_cli

NO_WAIT = "models/seeds/provider-unload-no-wait.nmr"
UNLOAD = "models/seeds/provider-unload.nmr"


def props(r):
    return {p["property"]: p for p in r.json["models"][0]["properties"]}


def test_bmc_finds_the_shortest_violation_like_the_explicit_engine():
    explicit = props(run_cli("check", NO_WAIT, "--json", "--property", "DRG-2"))
    bmc = run_cli("check", NO_WAIT, "--engine", "bmc", "--depth", "6", "--json",
                  "--property", "DRG-2")
    assert bmc.code == 1
    got = props(bmc)["DRG-2"]
    assert got["verdict"] == "violated" and got["engine"] == "bmc"
    assert len(got["trace"]) == len(explicit["DRG-2"]["trace"]) == 3
    assert got["trace"][-1]["violates"] == "DRG-2"


def test_bmc_without_violation_says_bounded_never_holds():
    r = run_cli("check", UNLOAD, "--engine", "bmc", "--depth", "4", "--json",
                "--property", "DRG-2")
    p = props(r)["DRG-2"]
    assert p["verdict"] == "holds up to bound" and p["bound"] == 4
    assert r.code == 3
    text = run_cli("check", UNLOAD, "--engine", "bmc", "--depth", "4", "--property", "DRG-2")
    assert "holds up to bound 4" in text.out and "holds (" not in text.out
    assert "hangs: not checked" in text.out


def test_pdr_proof_with_certificate_and_certify(tmp_path):
    cert = tmp_path / "drg2.smt2"
    r = run_cli("check", UNLOAD, "--engine", "pdr", "--property", "DRG-2", "--json",
                "--certificate", str(cert))
    p = props(r)["DRG-2"]
    assert p["verdict"] == "holds" and p["coverage"] == "proved" and p["engine"] == "pdr"
    assert r.code == 0
    text = cert.read_text()
    assert "DRG-2" in text and "define-fun" in text
    ok = run_cli("certify", str(cert), UNLOAD)
    assert ok.code == 0 and "valid certificate of DRG-2" in ok.out
    # the same certificate does not certify a different design
    other = run_cli("certify", str(cert), "models/seeds/client-unload.nmr")
    assert other.code == 1 and "INVALID" in other.out
    # a weakened invariant is rejected
    bad = tmp_path / "bad.smt2"
    bad.write_text(text.replace("(define-fun inv () Bool", "(define-fun inv () Bool (or true")
                   .replace("\n)\n", "\n))\n", 1) if False else _weaken(text))
    res = run_cli("certify", str(bad), UNLOAD)
    assert res.code in (1, 2) and "valid certificate" not in res.out


def _weaken(text: str) -> str:
    start = text.index("(define-fun")
    header = text[:start]
    return header + text[start:].split("\n", 1)[0] + "\n  true)\n"


def test_pdr_refutes_with_a_replayed_trace():
    r = run_cli("check", NO_WAIT, "--engine", "pdr", "--property", "DRG-2", "--json")
    p = props(r)["DRG-2"]
    assert p["verdict"] == "violated" and r.code == 1
    assert p["trace"][-1]["violates"] == "DRG-2"


def test_induction_engine_reports_base_and_step():
    r = run_cli("check", UNLOAD, "--engine", "induction", "--depth", "3", "--json",
                "--property", "DRG-2")
    p = props(r)["DRG-2"]
    assert p["verdict"] in ("holds", "proof failed", "unknown")
    assert p["engine"] == "k-induction"
    assert p["verdict"] != "violated"


def test_auto_is_explicit_when_exhaustive():
    r = run_cli("check", UNLOAD, "--json")
    doc = r.json["models"][0]
    assert doc["engine"] == "explicit" and doc["stats"]["complete"] is True


@pytest.mark.parametrize("engine", ["bmc", "pdr"])
def test_unknown_property_is_still_an_input_error(engine):
    r = run_cli("check", UNLOAD, "--engine", engine, "--property", "nope")
    assert r.code == 2
