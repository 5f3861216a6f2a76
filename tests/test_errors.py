"""Bad models give positioned findings (file:line:col), never a traceback; model text is data."""

from __future__ import annotations

import pytest

from nmrcheck.errors import InputError
from nmrcheck.nmr.load import load_text


def errors(text: str) -> list[str]:
    with pytest.raises(InputError) as exc:
        load_text(text, "m.nmr")
    return [str(f) for f in exc.value.findings]


CASES = [
    # (model text, expected first finding)
    ("npi X\ndriver D { provider P of Y }", "m.nmr:2:12: error: unknown NPI 'Y'"),
    ("npi X\nnpi X\ndriver D { provider P of X }", "m.nmr:2:5: error: NPI 'X' is declared twice"),
    (
        "npi X\ndriver D { provider P of X\n Unlaod { skip } }",
        "m.nmr:3:2: error: unknown routine 'Unlaod'; did you mean 'Unload'?",
    ),
    (
        "npi X\ndriver D { provider P of X\n Unload { NmrDeregisterClient(P) } }",
        "m.nmr:3:31: error: 'P' is a provider registration; NmrDeregisterClient needs a client "
        "registration",
    ),
    (
        "npi X\ndriver D { provider P of X\n Unload { s = NmrDeregisterProvider(Q) } }",
        "m.nmr:3:37: error: unknown registration 'Q'",
    ),
    (
        "npi X\ndriver D { provider P of X\n Unload { NmrClientAttachProvider() } }",
        "m.nmr:3:11: error: NmrClientAttachProvider may be called only inside ClientAttachProvider",
    ),
    (
        "npi X\ndriver D { client C of X\n ClientDetachProvider { x = 1 } }",
        "m.nmr:3:25: error: unknown variable 'x'",
    ),
    (
        "npi X\ndriver D { client C of X\n var b: bool = 3 }",
        "m.nmr:3:16: error: initial value must be a constant of type bool",
    ),
    (
        "npi X\ndriver D { client C of X\n var n: 0..3 = 7 }",
        "m.nmr:3:16: error: initial value 7 is outside 0..3",
    ),
    (
        "npi X\ndriver D { client C of X\n var n: 0..3 = 0\n task T when (n) { skip } }",
        "m.nmr:4:15: error: expected bool, found 0..3",
    ),
    (
        "npi X\ndriver D { client C of X\n ProviderDetachClient { skip } }",
        "m.nmr:3:2: error: ProviderDetachClient needs a provider registration in driver 'D'",
    ),
    (
        "npi X\ndriver D { client C of X\n task T when (true) "
        "{ NmrClientDetachProviderComplete(binding) } }",
        "m.nmr:3:23: error: NmrClientDetachProviderComplete(binding) needs a binding",
    ),
    (
        "npi X\ndriver D { client C of X\n Unload { frobnicate(C) } }",
        "m.nmr:3:11: error: unknown function 'frobnicate'",
    ),
    (
        "npi X\ndriver D { client C of X\n var s: {A, B} = A\n task T when (s == C) { skip } }",
        "m.nmr:4:20: error: unknown name 'C'",
    ),
    ("", "m.nmr:1:1: error: the model declares no driver"),
    ("npi X\ndriver D[0] { client C of X }", "m.nmr:2:1: error: driver 'D': instance count"),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_positioned_error(text, expected):
    found = errors(text)
    assert any(f.startswith(expected) for f in found), found


@pytest.mark.parametrize(
    "payload",
    [
        '__import__("os").system("echo pwned")',
        "exec('import os')",
        "lambda: 0",
        "[x for x in ()]",
        "open('/etc/passwd').read()",
    ],
)
def test_python_looking_payloads_are_plain_errors(payload, tmp_path):
    text = (
        "npi X\ndriver D { client C of X\n var n: 0..1 = 0\n task T when (true) { n = "
        + payload
        + " } }"
    )
    found = errors(text)
    assert found and all(f.startswith("m.nmr:") for f in found)


def test_deep_nesting_is_an_error_not_a_crash():
    text = (
        "npi X\ndriver D { client C of X\n var b: bool = false\n task T when ("
        + "!(" * 3000
        + "b"
        + ")" * 3000
        + ") { skip } }"
    )
    found = errors(text)
    assert found[0].startswith("m.nmr:4:") and "nesting too deep" in found[0]


def test_parentheses_alone_nest_nothing():
    text = (
        "npi X\ndriver D { client C of X\n var b: bool = false\n task T when ("
        + "(" * 3000
        + "b"
        + ")" * 3000
        + ") { skip } }"
    )
    assert load_text(text, "m.nmr").properties


def test_non_ascii_names_are_rejected_with_position():
    found = errors("npi X\ndriver Dé { client C of X }")
    assert found[0].startswith("m.nmr:2:")
