"""Certificates: SMT-LIB round trip, independent re-check, tampering and fingerprints."""

from __future__ import annotations

import dataclasses

import pytest
import z3
from symbolic_models import counter, ladder, peterson

from nmrcheck.engines.common.results import HOLDS, PROVED, UNREACHABLE
from nmrcheck.engines.symbolic import (
    Certificate,
    check_certificate,
    fingerprint,
    pdr,
    read_certificate,
    write_certificate,
)
from nmrcheck.errors import InputError
from nmrcheck.ir import expr as E
from nmrcheck.ir.system import INVARIANT, Action, Property, TransitionSystem


def proof(ts: TransitionSystem, name: str) -> Certificate:
    (r,) = pdr(ts, [name])
    assert r.verdict in (HOLDS, UNREACHABLE) and r.coverage == PROVED
    assert isinstance(r.certificate, Certificate)
    return r.certificate


def test_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ts = peterson(buggy=False)
    cert = proof(ts, "mutex")
    path = tmp_path / "mutex.smt2"
    write_certificate(cert, path)
    text = path.read_text()
    assert '; property: "mutex"' in text
    assert f"; fingerprint: {cert.fingerprint}" in text
    assert '; variable: "pc0" as pc0' in text
    assert "(declare-fun pc0 () Int)" in text and "(define-fun inv () Bool" in text
    back = read_certificate(path)
    assert (back.property, back.fingerprint, back.variables) == (
        cert.property,
        cert.fingerprint,
        cert.variables,
    )
    ok, message = check_certificate(ts, back)
    assert ok, message
    # the file is plain SMT-LIB 2: any solver can read it
    assert len(z3.parse_smt2_string(text + "(assert inv)", ctx=z3.Context())) == 1


def test_reachable_property_certificate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ts = counter(5)
    cert = proof(ts, "reach_beyond")
    write_certificate(cert, tmp_path / "c.smt2")
    assert check_certificate(ts, read_certificate(tmp_path / "c.smt2"))[0]


def test_odd_variable_names_are_quoted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ts = TransitionSystem()
    x = ts.add_var("my var", 0, 3, 0)
    ts.add_var("and", 0, 1, 0)
    ts.actions.append(Action("inc", E.lt(x, E.const(3)), ((0, E.add(x, E.const(1))),)))
    ts.properties.append(Property("small", INVARIANT, E.le(x, E.const(3))))
    cert = proof(ts, "small")
    write_certificate(cert, tmp_path / "odd.smt2")
    text = (tmp_path / "odd.smt2").read_text()
    assert "(declare-fun my_var!0 () Int)" in text and "(declare-fun and!1 () Int)" in text
    back = read_certificate(tmp_path / "odd.smt2")
    assert back.variables == ("my var", "and")
    assert check_certificate(ts, back)[0]


def test_weakened_invariant_fails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ts = peterson(buggy=False)
    cert = proof(ts, "mutex")
    ok, message = check_certificate(ts, dataclasses.replace(cert, invariant="true"))
    assert not ok and "does not imply the property" in message
    weaker = f"(or {cert.invariant} (and (= pc0 3) (= pc1 3)))"
    ok, message = check_certificate(ts, dataclasses.replace(cert, invariant=weaker))
    assert not ok
    ok, message = check_certificate(ts, dataclasses.replace(cert, invariant="false"))
    assert not ok and "initial state" in message
    # tamper with the file itself: admit an unreachable safe state that steps out
    lts = ladder(10)
    cert = proof(lts, "not8")
    path = tmp_path / "ladder.smt2"
    write_certificate(cert, path)
    text = path.read_text().replace(cert.invariant, f"(or {cert.invariant} (= x 7))")
    path.write_text(text)
    ok, message = check_certificate(lts, read_certificate(path))
    assert not ok and "not inductive: action 'climb'" in message


def test_certificate_for_another_system_fails() -> None:
    cert = proof(counter(5), "bounded")
    ok, message = check_certificate(counter(6), cert)
    assert not ok and "fingerprint" in message
    # same name, another expression
    other = counter(5)
    other.properties[0] = Property("bounded", INVARIANT, E.le(other.var_expr("x"), E.const(9)))
    ok, message = check_certificate(other, cert)
    assert not ok and "fingerprint" in message
    ok, message = check_certificate(peterson(False), cert)
    assert not ok and "no property named 'bounded'" in message


def test_fingerprint_covers_the_system() -> None:
    def variants() -> list[TransitionSystem]:
        out = []
        for change in range(5):
            ts = counter(5)
            if change == 1:
                ts.vars[0] = dataclasses.replace(ts.vars[0], init=1)
            elif change == 2:
                ts.actions[0] = dataclasses.replace(ts.actions[0], label="step")
            elif change == 3:
                ts.halted = E.eq(ts.var_expr("x"), E.const(4))
            elif change == 4:
                ts.actions[0] = dataclasses.replace(ts.actions[0], guard=E.TRUE)
            out.append(ts)
        return out

    prints = [fingerprint(ts, ts.properties[0]) for ts in variants()]
    assert len(set(prints)) == len(prints)
    assert prints[0] == fingerprint(counter(5), counter(5).properties[0])
    assert len(prints[0]) == 64


def test_malformed_file_is_an_input_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.smt2"
    path.write_text("(assert true)\n")
    with pytest.raises(InputError):
        read_certificate(path)
    cert = proof(counter(5), "bounded")
    write_certificate(cert, path)
    path.write_text(
        path.read_text().replace("(define-fun inv () Bool", "(define-fun inv () Bool ((")
    )
    with pytest.raises(InputError):
        read_certificate(path)
