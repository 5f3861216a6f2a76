"""What the editor knows about the words of a .nmr file: keywords (read from the grammar),
NMR calls, callbacks, built-in statements and obligation ids (read from nmrcheck.nmr.vocab),
each with its meaning and the section of nmr-semantics.md that defines it.

Nothing here is a copied list of names: a keyword added to ``nmr.lark`` or a call added to
``vocab`` shows up in highlighting, hover and completion at once (with a generic meaning
until one is written below).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from nmrcheck.nmr import vocab as V

SEMANTICS = "nmr-semantics.md"  # cited as in docs/language.md (the file is docs/nmr-semantics.md)
LANGUAGE = "docs/language.md"
OBLIGATION_ID = re.compile(r"\b(?:REG|ATT|CALL|DET|CLN|DRG)-\d+\b")


@dataclass(frozen=True)
class Entry:
    """A word's hover: its signature, meaning and where it is defined."""

    word: str
    kind: str  # "NMR call", "callback", "routine", "statement", "obligation", "status"
    signature: str
    text: str
    section: str  # in nmr-semantics.md ("§2.1"), or "" when only the language doc has it
    language: str = ""  # the section of docs/language.md

    def markdown(self) -> str:
        refs = []
        if self.section:
            refs.append(f"`{SEMANTICS} {self.section}`")
        if self.language:
            refs.append(f"`{LANGUAGE}` section {self.language}")
        tail = f"\n\nSee {', '.join(refs)}." if refs else ""
        return f"**{self.signature}** ({self.kind})\n\n{self.text}{tail}"


# -- keywords, from the grammar ------------------------------------------------------------
@functools.cache
def keywords() -> tuple[str, ...]:
    """Every keyword of the modelling and spec languages, from nmrcheck/lang/nmr.lark."""
    from nmrcheck.lang.parser import _parser

    words: set[str] = set()
    for t in _parser().terminals:
        pat = t.pattern
        if pat.type == "str" and re.fullmatch(r"[A-Za-z_]\w*", pat.value):
            words.add(pat.value)
        elif pat.type == "re":
            m = re.match(r"\(?([A-Za-z_|]+)\)?\(\?!\[A-Za-z0-9_\]\)", pat.value)
            if m:
                words.update(m.group(1).split("|"))
    return tuple(sorted(words))


# -- NMR calls ------------------------------------------------------------------------------
_CALL_TEXT = {
    "register": (
        "§2.1, §3.1",
        "10",
        "Registers the {role} registration `R` with NMR: it becomes ACTIVE and NMR may offer "
        "its bindings at once, even before the call returns (N10). Returns STATUS_SUCCESS "
        "(STATUS_INSUFFICIENT_RESOURCES too under `option register_may_fail`). PASSIVE_LEVEL; "
        "not inside `atomic`; `R` must be NONE or CLOSED (REG-5).",
    ),
    "deregister": (
        "§2.1, §3.1, §6.1",
        "10",
        "Starts deregistering the {role} registration `R`: it becomes DEREG_PENDING, NMR calls "
        "both detach callbacks of each of its bindings (possibly inside this call, N5) and "
        "returns STATUS_PENDING. Unload must then wait (DRG-2). A second call is DRG-4.",
    ),
    "wait": (
        "§2.1, §3.1",
        "10",
        "Blocks until the {role} registration `R` has drained (every binding detached and "
        "cleaned up), then closes it (R4). Only after NmrDeregister* (DRG-3); never in a "
        "callback (DRG-6); PASSIVE_LEVEL.",
    ),
    "complete": (
        "§2.1, §6.4",
        "10",
        "Completes this {role} side's pending detach of `binding` (B9), after its detach "
        "callback returned STATUS_PENDING and no call into the peer is in flight (DET-3). "
        "Takes the binding handle, never a registration (DET-6). VOID.",
    ),
    "attach": (
        "§2.1, §3.2",
        "10",
        "Attaches the client to the offered provider: NMR runs the provider's "
        "ProviderAttachClient nested and returns exactly its status. Only inside "
        "ClientAttachProvider; return its status (ATT-1, ATT-2); at most one success (ATT-3).",
    ),
}


def _call_entries() -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    tables = (("register", V.REGISTER), ("deregister", V.DEREGISTER), ("wait", V.WAIT),
              ("complete", V.COMPLETE))
    for kind, table in tables:
        section, lang, text = _CALL_TEXT[kind]
        for role, name in table.items():
            arg = "binding" if kind == "complete" else "R"
            out[name] = Entry(name, "NMR call", f"{name}({arg})", text.format(role=role),
                              section, lang)
    section, lang, text = _CALL_TEXT["attach"]
    out[V.ATTACH_CALL] = Entry(V.ATTACH_CALL, "NMR call", f"{V.ATTACH_CALL}()", text,
                               section, lang)
    for name in sorted(V.NMR_CALLS - set(out)):  # a call added to vocab without a text yet
        out[name] = Entry(name, "NMR call", f"{name}(...)", "An NMR API call.", "§2.1", "10")
    return out


# -- routines and callbacks -----------------------------------------------------------------
_CALLBACK_TEXT = {
    "Attach": (
        "§2.2, §3.2",
        "NMR offers a binding to the {role}. {how} Return STATUS_SUCCESS to attach, a failure "
        "(STATUS_NOINTERFACE) to decline. Default when omitted: {default}.",
    ),
    "Detach": (
        "§2.2, §6.2-§6.4",
        "NMR detaches the binding (the only trigger is a deregistration of either side); it "
        "calls both sides' detach callbacks, once each, in any order, at any IRQL <= "
        "DISPATCH_LEVEL: never block (DET-7). Return STATUS_SUCCESS when no call into the peer "
        "is in flight, else STATUS_PENDING and complete later with {complete}(binding).",
    ),
    "Cleanup": (
        "§2.2, §5.5",
        "NMR calls it once both sides have detached: free this side's binding context here "
        "(CLN-1). After it the binding and its contexts are gone (CLN-3). VOID; optional.",
    ),
}
_ATTACH_HOW = {
    "client": "Allocate the client binding context, call NmrClientAttachProvider and return "
              "its status.",
    "provider": "It runs nested inside the client's NmrClientAttachProvider.",
}
_ATTACH_DEFAULT = {"client": "`return NmrClientAttachProvider()`", "provider": "accept"}
_DRIVER_ROUTINES = {
    "DriverEntry": ("§1.1, §2.1", "4",
                    "Runs once when the driver loads. Default when omitted: register every "
                    "registration that is not `deferred`. A failure status unloads the image "
                    "at once (without Unload)."),
    "Unload": ("§3.3, §5.6", "7",
               "The OS calls it once, at any time after DriverEntry succeeded. It must "
               "deregister every registration (DRG-1) and wait for each one (DRG-2, DRG-5) "
               "before it returns. VOID."),
}


def _callback_entries() -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for role, names in (("client", V.CLIENT_CALLBACKS), ("provider", V.PROVIDER_CALLBACKS)):
        for name in names:
            kind = next((k for k in _CALLBACK_TEXT if k in name), None)
            if kind is None:
                out[name] = Entry(name, "callback", name, f"A {role} callback.", "§2.2", "7")
                continue
            section, text = _CALLBACK_TEXT[kind]
            text = text.format(role=role, how=_ATTACH_HOW[role], default=_ATTACH_DEFAULT[role],
                               complete=V.COMPLETE[role])
            out[name] = Entry(name, f"{role} callback", name, text, section, "7")
    for name in V.DRIVER_ROUTINES:
        section, lang, text = _DRIVER_ROUTINES.get(name, ("", "7", "A driver routine."))
        out[name] = Entry(name, "routine", name, text, section, lang)
    return out


# -- built-in statements --------------------------------------------------------------------
_BUILTIN_TEXT = {
    "assert": ("assert(C, \"message\")", "9", "", "Crashes with an assertion failure if C is "
               "false; checked as property `assert@FILE:LINE`."),
    "error": ("error(\"message\")", "9", "", "Crashes: this must not happen; checked as "
              "property `error@FILE:LINE` (the docs' \"handle error\" branch)."),
    "acquire": ("acquire(L)", "6", "§2.3", "Takes lock L; blocks while another thread holds "
                "it. A spin lock raises the thread to DISPATCH_LEVEL."),
    "release": ("release(L)", "6", "§2.3", "Releases lock L, which this thread must hold."),
    "queue": ("queue(W)", "8", "", "Queues work item W: it starts later, once per queue."),
    "npi_call_begin": ("npi_call_begin()", "11.1", "§1.9, §4.4", "A call into the peer's "
                       "dispatch table starts (in flight until npi_call_end()); not after "
                       "this side's detach began without a counted reference (CALL-1)."),
    "npi_call_end": ("npi_call_end()", "11.1", "§4.4", "One of this side's calls into the "
                     "peer returns."),
    "allocate_binding_context": ("allocate_binding_context()", "11.2", "§1.8, §5.2",
                                 "Allocates this side's binding context; only in its attach "
                                 "callback."),
    "free_binding_context": ("free_binding_context()", "11.2", "§5.5", "Frees this side's "
                             "binding context: in the cleanup callback (CLN-1)."),
    "free_registration_data": ("free_registration_data(R)", "11.3", "§5.1", "Frees "
                               "registration R's characteristics and context: only once R is "
                               "CLOSED (REG-1)."),
}


def _builtin_entries() -> dict[str, Entry]:
    out = {}
    for name in sorted(V.BUILTIN_CALLS):
        sig, lang, section, text = _BUILTIN_TEXT.get(
            name, (f"{name}(...)", "9", "", "A built-in statement of the modelling language."))
        out[name] = Entry(name, "statement", sig, text, section, lang)
    return out


# -- obligations and statuses ---------------------------------------------------------------
_GROUP_SECTION = {"REG": "§5.1", "ATT": "§5.2", "CALL": "§5.3", "DET": "§5.4", "CLN": "§5.5",
                  "DRG": "§5.6"}


def obligation(word: str) -> Entry | None:
    """The hover of an obligation id (checked or not), or None."""
    if not OBLIGATION_ID.fullmatch(word):
        return None
    o = V.OBLIGATIONS.get(word)
    if o is not None:
        return Entry(word, "obligation", word, f"A module {o.text}. Checked: reported by this "
                     "id at the step that breaks it (docs/obligations.md).", o.section, "15")
    section = _GROUP_SECTION[word.split("-")[0]]
    return Entry(word, "obligation", word, "An obligation of nmr-semantics.md that nmrcheck "
                 "does not check as a property of its own (docs/obligations.md says why).",
                 section, "15")


def _status_entries() -> dict[str, Entry]:
    return {s: Entry(s, "status", s, "An NTSTATUS value a model can use.", "§2", "5.2")
            for s in V.STATUSES}


@functools.cache
def entries() -> dict[str, Entry]:
    """Every word with a hover, except obligation ids (see :func:`obligation`)."""
    return {**_status_entries(), **_builtin_entries(), **_callback_entries(),
            **_call_entries()}


def lookup(word: str) -> Entry | None:
    return entries().get(word) or obligation(word)
