"""Depth that comes from user text has one limit, reported as a positioned error; flat chains
of `&&`/`||` have none; a semicolon may follow any statement, block or declaration."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run_cli

from nmrcheck.lang.parser import MAX_NESTING


def _nested_ifs(n: int) -> str:
    body = "x = true"
    for _ in range(n):
        body = "if (x) { " + body + " }"
    return f"npi N\ndriver D {{ client C of N\n var x: bool = false\n Unload {{ {body} }} }}\n"


def _check(tmp_path: Path, text: str, *extra: str, name: str = "m.nmr"):
    path = tmp_path / name
    path.write_text(text)
    return run_cli("check", str(path), "--no-hang", *extra), str(path)


@pytest.mark.parametrize("n", [MAX_NESTING + 1, 200, 245, 250, 400])
def test_too_many_nested_ifs_is_a_positioned_error(tmp_path, n):
    r, path = _check(tmp_path, _nested_ifs(n))
    assert r.code == 2, r.err
    assert r.err.startswith(f"{path}:4:") and "nesting too deep" in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("engine", ["explicit", pytest.param("bmc", marks=pytest.mark.slow)])
def test_nesting_up_to_the_limit_is_checked(tmp_path, engine):
    r, _ = _check(tmp_path, _nested_ifs(MAX_NESTING - 2), "--engine", engine, "--depth", "4")
    assert r.code in (0, 1, 3), r.err  # checked: no internal error, no input error


def test_a_long_flat_conjunction_in_a_model_is_not_too_deep(tmp_path):
    conj = " && ".join(["x"] * 1000)
    text = (
        "npi N\ndriver D { client C of N\n var x: bool = false\n"
        f" Unload {{ if ({conj}) {{ error(\"no\") }} }} }}\n"
    )
    r, path = _check(tmp_path, text, "--property", f"error@{tmp_path / 'm.nmr'}:4")
    assert r.code == 0, r.err


def test_a_long_flat_conjunction_in_a_spec_is_not_too_deep(tmp_path):
    spec = tmp_path / "big.spec"
    spec.write_text("invariant big: " + " && ".join(["D.state != LOADING"] * 500) + "\n")
    text = "npi N\ndriver D { client C of N }\n"
    r, _ = _check(tmp_path, text, "--spec", str(spec), "--property", "big")
    assert r.code == 1 and "Traceback" not in r.err  # violated in the initial state


def test_deep_unary_chains_are_a_positioned_error(tmp_path):
    text = "npi N\ndriver D { client C of N\n var x: bool = false\n Unload { x = " + "!" * 300
    r, path = _check(tmp_path, text + "x } }\n")
    assert r.code == 2 and r.err.startswith(f"{path}:4:") and "nesting too deep" in r.err


def test_a_semicolon_may_follow_any_statement_block_or_declaration(tmp_path):
    text = """npi N;
option max_inflight = 2;
driver D {
  client C of N;
  var x: bool = false;;
  lock L;
  Unload {
    if (x) { x = false } else { skip };
    while (x) { skip; };
    atomic { x = true; };
    s = NmrDeregisterClient(C);
    NmrWaitForClientDeregisterComplete(C);
    return;
  };
};
driver P { provider Q of N };
"""
    r, _ = _check(tmp_path, text)
    assert r.code == 0, r.err


def test_an_int_without_a_range_says_it_needs_one(tmp_path):
    r, path = _check(tmp_path, "npi N\ndriver D { client C of N\n var count: int = 0\n}\n")
    assert r.code == 2
    assert r.err.startswith(f"{path}:3:17: error: an int needs a range")
