"""Catalogue patterns that ``nmrcheck new`` starts a design from.

A pattern is a catalogue model that holds (``models/``, the single source: a change there
shows in ``nmrcheck new`` at once); the generated file is that model under a header that
says where it came from and how to check it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nmrcheck.errors import Finding, InputError

CATALOGUE = Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class Pattern:
    """A named starting point: a catalogue model (relative to models/) and what it shows."""

    name: str
    model: str
    summary: str


PATTERNS = (
    Pattern("provider-unload", "seeds/provider-unload.nmr",
            "a provider whose Unload deregisters and waits, with two clients"),
    Pattern("client-unload", "seeds/client-unload.nmr",
            "two clients whose Unload deregisters and waits, one provider"),
    Pattern("pending-detach", "seeds/detach-pending.nmr",
            "a provider and a client whose detach returns STATUS_PENDING and completes "
            "from a work item"),
    Pattern("rundown", "patterns/hook-provider-rundown.nmr",
            "a hook provider that calls its client under a per-binding rundown reference "
            "and completes the detach once it has run down"),
    Pattern("counted-calls", "patterns/progcons.nmr",
            "the Programming Considerations sample: calls counted under a DetachLock, "
            "exactly one completion"),
    Pattern("client-and-provider", "seeds/client-and-provider.nmr",
            "a layered module, client of a lower NPI and provider of an upper one"),
    Pattern("subcomponent", "seeds/subcomponent.nmr",
            "a subcomponent that deregisters on its own; Unload always waits"),
    Pattern("multi-npi", "seeds/multi-npi.nmr",
            "a provider of two NPIs, one registration each"),
    Pattern("client-attach-detach", "docs/client-attach-detach.nmr",
            "the docs' client: binding context allocated in attach, freed in cleanup"),
    Pattern("provider-attach-detach", "docs/provider-attach-detach.nmr",
            "the docs' provider: decline or hand out a binding context, clean it up"),
    Pattern("preallocated-teardown", "liveness/ebpf-1583-preallocated-teardown.nmr",
            "a pending detach whose teardown needs memory, reserved at attach time"),
    Pattern("ebpf-hook-provider", "designs/d1-netebpfext-hook-provider.nmr",
            "D1: eBPF's netebpfext hook provider (rundown per binding, a work item completes "
            "the detach, classify at DISPATCH_LEVEL)"),
    Pattern("ebpf-program-info-client", "designs/d2-ebpfcore-program-info-client.nmr",
            "D2: ebpfcore's program-information client (epochs, reference counts)"),
    Pattern("native-module-provider", "designs/d3-native-module-provider.nmr",
            "D3: eBPF's native-module provider (a reference count whose releases queue the "
            "unload and complete the detach; no cleanup callback)"),
    Pattern("ebpf-link-client", "designs/d4-ebpf-link-client.nmr",
            "D4: the ebpf_link client of a hook NPI (attach and detach of a program)"),
    Pattern("msquic-nmr", "designs/d5-msquic-nmr.nmr",
            "D5: MsQuic's NMR helper (a timed wait for the attach event, frees its own "
            "binding context)"),
)


def names() -> list[str]:
    return [p.name for p in PATTERNS]


def find(name: str) -> Pattern:
    """The pattern called ``name``; InputError (with a suggestion) otherwise."""
    for p in PATTERNS:
        if p.name == name:
            return p
    from nmrcheck.nmr.design import suggest

    raise InputError(f"unknown pattern {name!r}{suggest(name, names())} "
                     "(nmrcheck new --list shows them)")


def source(p: Pattern) -> Path:
    """The catalogue file of ``p``; InputError when the catalogue is not installed."""
    path = CATALOGUE / p.model
    if not path.is_file():
        raise InputError(Finding(str(path), 0, 0, "the pattern catalogue (models/) is not "
                                 "beside this nmrcheck: install it from a clone "
                                 "(pip install -e .)"))
    return path


def render(p: Pattern, file: str) -> str:
    """The text of a new design ``file`` started from pattern ``p``."""
    body = source(p).read_text(encoding="utf-8")
    head = (f"// {file}: a new design, started with `nmrcheck new {p.name}`\n"
            f"// from the catalogue model models/{p.model}, which holds as it is.\n"
            "// Rename the drivers and NPIs, make it do what your module does, and check "
            "each change\n"
            f"// with `nmrcheck check {file}`.\n//\n")
    return head + body
