"""Generate the benchmark's scaling family: each design as an nmrcheck model and its Promela twin.

    python3 bench/family.py            # write bench/models/*.nmr and bench/promela/*.pml
    python3 bench/family.py --check    # exit 1 if a generated file is missing or out of date

Two designs, for N = 1..6 (``MAX_N``):

* ``provider-clients-N``: one provider, N clients. Each client calls into the provider (a
  binding task ``Call`` starts a call, a binding task ``Return`` ends one; up to 2 calls in
  flight per binding, counted in ``in_progress``), its detach callback sets ``detaching`` and
  returns ``STATUS_PENDING`` while calls are in flight, and the last call out completes the
  detach (the Programming Considerations pattern). The provider's ``Unload`` deregisters and
  waits.
* ``multi-npi-N``: a provider of two NPIs (``ProvA``, ``ProvB``) whose ``Unload`` deregisters
  both and waits for both; the N clients (the same client as above) are split between the
  NPIs, ceil(N/2) on NPI_A and floor(N/2) on NPI_B.

The Promela twin has the granularity of nmrcheck (bench/README.md, "The Promela twins"): one
``d_step`` per nmrcheck step, one process per nmrcheck thread (driver main thread, each side of
each binding, each binding task), NMR's own steps (offer, detach invocation per side, "both
sides detached, binding GONE", drain, the wait) as d_steps of the thread they start or of an
``NMR`` process, and the same variables with the same domains. nmrcheck's obligations that can
fire in these designs are ``assert``s at the same steps, and the bundled spec
(specs/lifecycle.spec) is a monitor process. Output is deterministic: the same bytes each run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
MODELS = BENCH / "models"
PROMELA = BENCH / "promela"
DESIGNS = ("provider-clients", "multi-npi", "provider-clients-nowait", "multi-npi-nowait")
BENCHMARKED = DESIGNS[:2]  # the scaling family
MUTANTS = DESIGNS[2:]  # each with the waits forgotten: how fast the first counterexample comes
MUTANT = MUTANTS[0]
MAX_N = 6
MUTANT_MAX_N = 5
MAX_INFLIGHT = 3  # nmrcheck's default option max_inflight (docs/language.md section 14)

# -- the nmrcheck models ------------------------------------------------------------------------

CLIENT_BODY = """\
  binding var in_progress: 0..2 = 0     // InProgressCallCount: calls in flight
  binding var detaching: bool = false   // set by the detach callback

  // An NPI call into the provider starts (at most 2 in flight, none once detaching).
  binding task Call when (!detaching && in_progress < 2) {
    atomic { in_progress = in_progress + 1; npi_call_begin() }
  }

  // A call returns; the last one out after a pending detach completes it. A call in flight
  // does return: the start of Return is weakly fair (for the liveness properties).
  fair Return
  binding task Return when (in_progress > 0) {
    atomic {
      assert(in_progress > 0, "a call returns that was never counted")
      npi_call_end()
      in_progress = in_progress - 1
      if (detaching && in_progress == 0) {
        NmrClientDetachProviderComplete(binding)
      }
    }
  }

  ClientDetachProvider {
    var pending: bool = false
    atomic { detaching = true; pending = in_progress > 0 }
    if (pending) {
      return STATUS_PENDING
    }
    return STATUS_SUCCESS
  }
"""


def _split(n: int) -> tuple[int, int]:
    """Clients of multi-npi-N on NPI_A and on NPI_B."""
    return (n + 1) // 2, n // 2


def _instances(k: int) -> str:
    return f"[{k}]" if k > 1 else ""


def nmr_text(design: str, n: int) -> str:
    """The nmrcheck model of ``design`` with ``n`` clients."""
    if design == "provider-clients-nowait":
        text = nmr_text("provider-clients", n)
        wait = """
    if (status == STATUS_PENDING) {
      NmrWaitForProviderDeregisterComplete(Prov)
    }"""
        assert wait in text
        text = text.replace(wait, "").replace(
            "Unload deregisters and waits.\n// Expected: holds. Promela twin: "
            "bench/promela/provider-clients-",
            "Unload deregisters\n// and FORGETS TO WAIT. Expected: violated "
            "(DRG-2, unload_waits_for_bindings).\n// Promela twin: "
            "bench/promela/provider-clients-nowait-")
        return text
    if design == "multi-npi-nowait":
        text = nmr_text("multi-npi", n)
        for reg in ("A", "B"):
            wait = f"""
    if (status{reg} == STATUS_PENDING) {{
      NmrWaitForProviderDeregisterComplete(Prov{reg})
    }}"""
            assert wait in text
            text = text.replace(wait, "")
        text = text.replace("that deregisters both and waits for both",
                            "that deregisters both and FORGETS TO WAIT").replace(
            "// Expected: holds. Promela twin: bench/promela/multi-npi-",
            "// Expected: violated (DRG-2, unload_waits_for_bindings).\n"
            "// Promela twin: bench/promela/multi-npi-nowait-")
        return text
    if design == "provider-clients":
        return f"""\
// Scaling family of bench/ (generated by bench/family.py; do not edit): one provider,
// {n} client(s) making NPI calls (up to 2 in flight per binding), pending detach completed
// by the last call out (Programming Considerations), Unload deregisters and waits.
// Expected: holds. Promela twin: bench/promela/provider-clients-{n}.pml
npi EXAMPLE_NPI

driver Provider {{
  provider Prov of EXAMPLE_NPI

  Unload {{
    status = NmrDeregisterProvider(Prov)
    if (status == STATUS_PENDING) {{
      NmrWaitForProviderDeregisterComplete(Prov)
    }}
  }}
}}

driver Client{_instances(n)} {{
  client Cli of EXAMPLE_NPI
{CLIENT_BODY}}}
"""
    if design == "multi-npi":
        na, nb = _split(n)
        text = f"""\
// Scaling family of bench/ (generated by bench/family.py; do not edit): a provider of two
// NPIs that deregisters both and waits for both, {n} client(s) split between the NPIs
// ({na} on NPI_A, {nb} on NPI_B), each making NPI calls as in provider-clients.
// Expected: holds. Promela twin: bench/promela/multi-npi-{n}.pml
npi NPI_A, NPI_B

driver Provider {{
  provider ProvA of NPI_A
  provider ProvB of NPI_B

  Unload {{
    statusA = NmrDeregisterProvider(ProvA)
    statusB = NmrDeregisterProvider(ProvB)
    if (statusA == STATUS_PENDING) {{
      NmrWaitForProviderDeregisterComplete(ProvA)
    }}
    if (statusB == STATUS_PENDING) {{
      NmrWaitForProviderDeregisterComplete(ProvB)
    }}
  }}
}}

driver ClientA{_instances(na)} {{
  client Cli of NPI_A
{CLIENT_BODY}}}
"""
        if nb:
            text += f"""
driver ClientB{_instances(nb)} {{
  client Cli of NPI_B
{CLIENT_BODY}}}
"""
        return text
    raise ValueError(design)


# -- the Promela twins ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What the Promela generator needs to know about a design."""

    name: str
    n: int
    regs: tuple[str, ...]  # the provider's registrations, in DriverEntry order
    status: tuple[str, ...]  # Unload's status local per registration
    binding_reg: tuple[int, ...]  # binding b (= client b) -> index of its provider registration
    client_names: tuple[str, ...]  # driver instance of client b, as nmrcheck names it
    wait: bool = True  # Unload waits for each deregistration


def shape(design: str, n: int) -> Shape:
    if design in MUTANTS:
        s = shape(design.removesuffix("-nowait"), n)
        return Shape(design, n, s.regs, s.status, s.binding_reg, s.client_names, wait=False)
    if design == "provider-clients":
        names = tuple(f"Client[{i}]" if n > 1 else "Client" for i in range(1, n + 1))
        return Shape(design, n, ("Prov",), ("status",), (0,) * n, names)
    na, nb = _split(n)
    names = tuple(f"ClientA[{i}]" if na > 1 else "ClientA" for i in range(1, na + 1))
    names += tuple(f"ClientB[{i}]" if nb > 1 else "ClientB" for i in range(1, nb + 1))
    regs = (0,) * na + (1,) * nb
    return Shape(design, n, ("ProvA", "ProvB"), ("statusA", "statusB"), regs, names)


ENUMS = """\
/* driver image states (nmrcheck: d.state) */
#define LOADING 0
#define LOADED 1
#define UNLOADING 2
#define UNLOADED 3
/* registration states (r.state) */
#define R_NONE 0
#define R_ACTIVE 1
#define R_DEREG_PENDING 2
#define R_DRAINED 3
#define R_CLOSED 4
/* binding phases (b.phase) */
#define NONE 0
#define OFFERED 1
#define PROVIDER_ATTACHING 2
#define HALF_ATTACHED 3
#define LIVE 4
#define DETACHING 5
#define CLEANUP 6
#define GONE 7
#define REJECTED 8
/* per-side detach states (b.cs, b.ps) */
#define NOT_CALLED 0
#define IN_CALLBACK 1
#define COMPLETED_EARLY 2
#define PENDING 3
#define DONE 4
/* binding contexts (b.cbc, b.pbc) */
#define CTX_NONE 0
#define CTX_VALID 1
#define CTX_FREED 2
/* NTSTATUS, in nmrcheck's order */
#define STATUS_SUCCESS 0
#define STATUS_PENDING 1
#define STATUS_INVALID_PARAMETER 4
"""


def _any(parts: list[str], op: str) -> str:
    return f" {op} ".join(parts) if parts else ("1" if op == "&&" else "0")


def _leave_image(w, s: Shape) -> None:
    """Unload returns: the image goes away; every registration must be CLOSED."""
    w("    /* the image goes away: every registration NONE or CLOSED (nmrcheck _leave_image) */")
    for q in range(len(s.regs)):
        done = f"prov_reg[{q}] == R_NONE || prov_reg[{q}] == R_CLOSED"
        w(f"    assert(prov_reg[{q}] != R_ACTIVE);   /* never deregistered; nmrcheck: DRG-1 */")
        w(f"    assert({done} || !prov_dereg_in_unload[{q}]);"
          "   /* not waited for; nmrcheck: DRG-2 */")
        w(f"    assert({done} || prov_dereg_in_unload[{q}]);"
          "   /* deregistered elsewhere; nmrcheck: DRG-5 */")
    w("    prov_state = UNLOADED;")
    w("    " + "; ".join(f"{x} = STATUS_SUCCESS" for x in s.status))


def pml_text(design: str, n: int) -> str:
    """The Promela twin of ``nmr_text(design, n)``."""
    s = shape(design, n)
    nb, nr = s.n, len(s.regs)
    out: list[str] = []
    w = out.append
    w(f"/* Promela twin of bench/models/{design}-{n}.nmr (generated by bench/family.py;")
    w("   do not edit). One d_step per nmrcheck step, one process per nmrcheck thread, the")
    w("   same variables and domains: see bench/README.md, \"The Promela twins\". */")
    w("")
    w(ENUMS)
    w(f"#define NB {nb}   /* bindings = clients */")
    w(f"#define NR {nr}   /* the provider's registrations: {', '.join(s.regs)} */")
    w(f"#define MAX_INFLIGHT {MAX_INFLIGHT}")
    if nr == 1:
        w("#define PREG(b) 0")
    else:
        na = s.binding_reg.count(0)
        w(f"#define PREG(b) ((b) < {na} -> 0 : 1)   /* provider registration of binding b */")
    w("")
    w("/* nmrcheck variable -> Promela (b = binding = client index, 0-based) */")
    w("byte prov_state = LOADING;   /* Provider.state */")
    w(f"byte prov_reg[NR];           /* Provider.{{{','.join(s.regs)}}}.state */")
    w("bit  prov_dereg_in_unload[NR];  /* Provider.R.dereg_in_unload */")
    w("byte cli_state[NB];          /* Client[b].state (all LOADING = 0) */")
    w("byte cli_reg[NB];            /* Client[b].Cli.state */")
    w("byte phase[NB];              /* B.phase */")
    w("byte cs[NB];                 /* B.cs */")
    w("byte ps[NB];                 /* B.ps */")
    w("bit  c_pend[NB];             /* B.c_pending_returned */")
    w("bit  p_pend[NB];             /* B.p_pending_returned */")
    w("byte attach_status[NB];      /* B.attach_status */")
    w("byte cbc[NB];                /* B.cbc */")
    w("byte pbc[NB];                /* B.pbc */")
    w("byte c2p[NB];                /* B.c2p: client calls in flight (0..MAX_INFLIGHT) */")
    w("byte p2c[NB];                /* B.p2c */")
    w("byte in_progress[NB];        /* B.cbc.in_progress (0..2) */")
    w("bit  detaching[NB];          /* B.cbc.detaching */")
    w("")
    w("#define TERMINAL(b) (phase[b] == NONE || phase[b] == GONE || phase[b] == REJECTED)")
    w("#define ATTACHED(b) (phase[b] == HALF_ATTACHED || phase[b] == LIVE || "
      "phase[b] == DETACHING || phase[b] == CLEANUP)")
    w("/* the client side of b runs a callback: ClientAttachProvider (OFFERED up to")
    w("   HALF_ATTACHED) or ClientDetachProvider (IN_CALLBACK, COMPLETED_EARLY) */")
    w("#define C_IN_CB(b) (phase[b] == OFFERED || phase[b] == PROVIDER_ATTACHING || "
      "phase[b] == HALF_ATTACHED || cs[b] == IN_CALLBACK || cs[b] == COMPLETED_EARLY)")
    w("#define P_IN_CB(b) (phase[b] == PROVIDER_ATTACHING || ps[b] == IN_CALLBACK || "
      "ps[b] == COMPLETED_EARLY)")
    w("#define DEREG(b) (cli_reg[b] == R_DEREG_PENDING || prov_reg[PREG(b)] == R_DEREG_PENDING)")
    w("")
    # -- the binding-context reset when a binding becomes GONE or REJECTED
    w("/* binding b becomes GONE or REJECTED: both sides back to NOT_CALLED, contexts forgotten,")
    w("   binding variables reset (nmrcheck build.reset_binding) */")
    w("inline reset_binding(b) {")
    w("  cs[b] = NOT_CALLED; ps[b] = NOT_CALLED; c_pend[b] = 0; p_pend[b] = 0;")
    w("  attach_status[b] = STATUS_SUCCESS; cbc[b] = CTX_NONE; pbc[b] = CTX_NONE;")
    w("  in_progress[b] = 0; detaching[b] = 0")
    w("}")
    w("")
    # -- Provider main thread
    w("/* Provider: DriverEntry (implicit), then Unload when the OS calls it */")
    w("active proctype Provider() {")
    for st in s.status:
        w(f"  byte {st} = STATUS_SUCCESS;   /* Provider.Unload.{st} */")
    for r, reg in enumerate(s.regs):
        last = r == nr - 1
        w(f"  /* NmrRegisterProvider({reg}) -> STATUS_SUCCESS{'; return' if last else ''} */")
        w("  d_step {")
        w(f"    assert(prov_reg[{r}] == R_NONE || prov_reg[{r}] == R_CLOSED);"
          "   /* nmrcheck: REG-5 */")
        w(f"    prov_reg[{r}] = R_ACTIVE;")
        for b in range(nb):
            if s.binding_reg[b] == r:
                w(f"    phase[{b}] = NONE;")
        if last:
            w("    prov_state = LOADED")
        else:
            w("    skip")
        w("  };")
    w("  /* OS calls Provider Unload */")
    w("  d_step { prov_state == LOADED -> prov_state = UNLOADING };")
    for r, reg in enumerate(s.regs):
        last = not s.wait and r == nr - 1
        w(f"  /* {s.status[r]} = NmrDeregisterProvider({reg}) -> STATUS_PENDING"
          f"{'; return' if last else ''} */")
        w("  d_step {")
        w(f"    assert(prov_reg[{r}] == R_ACTIVE);   /* nmrcheck: DRG-4 */")
        w(f"    prov_reg[{r}] = R_DEREG_PENDING; prov_dereg_in_unload[{r}] = 1;")
        w(f"    {s.status[r]} = STATUS_PENDING" + (";" if last else ""))
        if last:
            _leave_image(w, s)
        w("  }" + ("" if last else ";"))
    for r, reg in enumerate(s.regs if s.wait else ()):
        last = r == nr - 1
        st = s.status[r]
        w(f"  /* if ({st} == STATUS_PENDING) {{ NmrWaitForProviderDeregisterComplete({reg}) }}"
          f"{'; return' if last else ''}:")
        w(f"     blocks while {reg} is DEREG_PENDING */")
        w("  d_step {")
        w(f"    {st} != STATUS_PENDING || prov_reg[{r}] != R_DEREG_PENDING;")
        w("    if")
        w(f"    :: {st} == STATUS_PENDING ->")
        w(f"       assert(prov_reg[{r}] != R_NONE && prov_reg[{r}] != R_CLOSED);"
          "   /* nmrcheck: DRG-4 */")
        w(f"       assert(prov_reg[{r}] != R_ACTIVE);   /* nmrcheck: DRG-3 */")
        w(f"       prov_reg[{r}] = R_CLOSED")
        w("    :: else -> skip")
        w("    fi;")
        if last:
            _leave_image(w, s)
        else:
            w("    skip")
        w("  }" + (";" if not last else ""))
    w("}")
    w("")
    # -- client main threads
    w("/* Client[b]: DriverEntry (implicit) registers Cli; no Unload */")
    w("#define CM (_pid - 1)")
    w("active [NB] proctype ClientMain() {")
    w("  /* NmrRegisterClient(Cli) -> STATUS_SUCCESS; return */")
    w("  d_step {")
    w("    assert(cli_reg[CM] == R_NONE || cli_reg[CM] == R_CLOSED);   /* nmrcheck: REG-5 */")
    w("    cli_reg[CM] = R_ACTIVE; phase[CM] = NONE; cli_state[CM] = LOADED")
    w("  }")
    w("}")
    w("")
    # -- binding client side
    w("/* the client side of binding b: ClientAttachProvider (default: return")
    w("   NmrClientAttachProvider()) and ClientDetachProvider, one thread per binding side */")
    w("#define CB (_pid - 1 - NB)")
    w("active [NB] proctype ClientSide() {")
    w("  bit pending = 0;   /* ClientDetachProvider's local 'pending' */")
    w("end_idle:")
    w("  do")
    w("  :: /* NMR offers b: calls ClientAttachProvider */")
    w("     d_step {")
    w("       phase[CB] == NONE && cli_reg[CB] == R_ACTIVE && prov_reg[PREG(CB)] == R_ACTIVE ->")
    w("       phase[CB] = OFFERED")
    w("     };")
    w("     /* NmrClientAttachProvider(binding): NMR calls ProviderAttachClient (nested) */")
    w("     d_step {")
    w("       assert(phase[CB] == OFFERED);   /* nmrcheck: ATT-3 */")
    w("       phase[CB] = PROVIDER_ATTACHING; cbc[CB] = CTX_VALID")
    w("     };")
    w("     /* NmrClientAttachProvider returns the provider's status; return it */")
    w("     d_step {")
    w("       phase[CB] != PROVIDER_ATTACHING ->")
    w("       if")
    w("       :: attach_status[CB] == STATUS_SUCCESS ->")
    w("          assert(phase[CB] == HALF_ATTACHED);   /* nmrcheck: ATT-1 */")
    w("          phase[CB] = LIVE")
    w("       :: else ->")
    w("          assert(phase[CB] == OFFERED);   /* nmrcheck: ATT-2 */")
    w("          phase[CB] = REJECTED; reset_binding(CB)")
    w("       fi;")
    w("       attach_status[CB] = STATUS_SUCCESS")
    w("     }")
    w("  :: /* NMR calls ClientDetachProvider */")
    w("     d_step {")
    w("       (phase[CB] == LIVE && DEREG(CB)) ||")
    w("       (phase[CB] == DETACHING && cs[CB] == NOT_CALLED) ->")
    w("       phase[CB] = DETACHING; cs[CB] = IN_CALLBACK")
    w("     };")
    w("     /* atomic { detaching = true; pending = in_progress > 0 } */")
    w("     d_step {")
    w("       assert(cbc[CB] == CTX_VALID);   /* nmrcheck: CLN-3, use_after_free */")
    w("       detaching[CB] = 1; pending = (in_progress[CB] > 0)")
    w("     };")
    w("     /* if (pending) { return STATUS_PENDING }; return STATUS_SUCCESS */")
    w("     d_step {")
    w("       if")
    w("       :: pending ->")
    w("          if")
    w("          :: cs[CB] == IN_CALLBACK -> cs[CB] = PENDING")
    w("          :: else -> assert(cs[CB] == COMPLETED_EARLY); cs[CB] = DONE")
    w("          fi;")
    w("          c_pend[CB] = 1")
    w("       :: else ->")
    w("          assert(c2p[CB] == 0);   /* nmrcheck: DET-2 */")
    w("          assert(cs[CB] == IN_CALLBACK);   /* nmrcheck: DET-4 */")
    w("          cs[CB] = DONE")
    w("       fi;")
    w("       pending = 0")
    w("     }")
    w("  od")
    w("}")
    w("")
    # -- binding provider side
    w("/* the provider side of binding b: ProviderAttachClient and ProviderDetachClient")
    w("   (defaults: return STATUS_SUCCESS) */")
    w("#define PB (_pid - 1 - 2 * NB)")
    w("active [NB] proctype ProvSide() {")
    w("end_idle:")
    w("  do")
    w("  :: /* ProviderAttachClient, nested in the client's NmrClientAttachProvider:")
    w("        return STATUS_SUCCESS */")
    w("     d_step {")
    w("       phase[PB] == PROVIDER_ATTACHING ->")
    w("       phase[PB] = HALF_ATTACHED; attach_status[PB] = STATUS_SUCCESS;"
      " pbc[PB] = CTX_VALID")
    w("     }")
    w("  :: /* NMR calls ProviderDetachClient */")
    w("     d_step {")
    w("       (phase[PB] == LIVE && DEREG(PB)) ||")
    w("       (phase[PB] == DETACHING && ps[PB] == NOT_CALLED) ->")
    w("       phase[PB] = DETACHING; ps[PB] = IN_CALLBACK")
    w("     };")
    w("     /* return STATUS_SUCCESS */")
    w("     d_step {")
    w("       assert(p2c[PB] == 0);   /* nmrcheck: DET-2 */")
    w("       assert(ps[PB] == IN_CALLBACK);   /* nmrcheck: DET-4 */")
    w("       ps[PB] = DONE")
    w("     }")
    w("  od")
    w("}")
    w("")
    # -- binding tasks
    w("/* binding task Call: starts (when) in the same step as its only statement */")
    w("#define KB (_pid - 1 - 3 * NB)")
    w("active [NB] proctype Call() {")
    w("end_idle:")
    w("  do")
    w("  :: d_step {")
    w("       (cli_state[KB] == LOADED || cli_state[KB] == UNLOADING) && ATTACHED(KB) &&")
    w("       !detaching[KB] && in_progress[KB] < 2 ->")
    w("       assert(cbc[KB] == CTX_VALID);   /* nmrcheck: CLN-3, use_after_free */")
    w("       /* in_progress = in_progress + 1 */")
    w("       assert(in_progress[KB] + 1 <= 2);   /* nmrcheck: range */")
    w("       in_progress[KB] = in_progress[KB] + 1;")
    w("       /* npi_call_begin() */")
    w("       assert(prov_state != UNLOADED);   /* nmrcheck: CALL-3 */")
    w("       assert(pbc[KB] != CTX_FREED);   /* nmrcheck: use_after_free */")
    w("       assert(cs[KB] == NOT_CALLED || cs[KB] == IN_CALLBACK);"
      "   /* nmrcheck: CALL-1, CALL-2 */")
    w("       assert(c2p[KB] < MAX_INFLIGHT);   /* max_inflight; nmrcheck: range */")
    w("       c2p[KB] = c2p[KB] + 1")
    w("     }")
    w("  od")
    w("}")
    w("")
    w("/* binding task Return */")
    w("#define RB (_pid - 1 - 4 * NB)")
    w("active [NB] proctype Return() {")
    w("end_idle:")
    w("  do")
    w("  :: d_step {")
    w("       (cli_state[RB] == LOADED || cli_state[RB] == UNLOADING) && ATTACHED(RB) &&")
    w("       in_progress[RB] > 0 ->")
    w("       assert(cbc[RB] == CTX_VALID);   /* nmrcheck: CLN-3, use_after_free */")
    w("       /* assert(in_progress > 0, \"a call returns that was never counted\") */")
    w("       assert(in_progress[RB] > 0);   /* nmrcheck: assert@ */")
    w("       /* npi_call_end() */")
    w("       assert(prov_state != UNLOADED);   /* nmrcheck: CALL-3 */")
    w("       assert(pbc[RB] != CTX_FREED);   /* nmrcheck: use_after_free */")
    w("       assert(c2p[RB] > 0);   /* nmrcheck: range */")
    w("       c2p[RB] = c2p[RB] - 1;")
    w("       in_progress[RB] = in_progress[RB] - 1;")
    w("       if")
    w("       :: detaching[RB] && in_progress[RB] == 0 ->")
    w("          /* NmrClientDetachProviderComplete(binding) */")
    w("          assert(!(TERMINAL(RB) || phase[RB] == CLEANUP));"
      "   /* dead handle; nmrcheck: DET-3 */")
    w("          assert(c2p[RB] == 0);   /* calls in flight; nmrcheck: DET-3 */")
    w("          if")
    w("          :: cs[RB] == IN_CALLBACK -> cs[RB] = COMPLETED_EARLY")
    w("          :: cs[RB] == PENDING -> cs[RB] = DONE")
    w("          :: cs[RB] == DONE && c_pend[RB] -> assert(0)   /* twice; nmrcheck: DET-3 */")
    w("          :: cs[RB] == DONE && !c_pend[RB] -> assert(0)"
      "   /* after SUCCESS; nmrcheck: DET-4 */")
    w("          :: else -> assert(0)   /* not called, or twice; nmrcheck: DET-3 */")
    w("          fi")
    w("       :: else -> skip")
    w("       fi")
    w("     }")
    w("  od")
    w("}")
    w("")
    # -- NMR
    w("/* NMR's own steps that no driver thread takes: a binding whose both sides are DONE")
    w("   becomes GONE (no cleanup callbacks), a deregistering registration whose bindings")
    w("   are all terminal becomes DRAINED */")
    w("active proctype NMR() {")
    w("end_idle:")
    w("  do")
    for b in range(nb):
        w(f"  :: d_step {{ phase[{b}] == DETACHING && cs[{b}] == DONE && ps[{b}] == DONE ->")
        w(f"       phase[{b}] = GONE; reset_binding({b}) }}")
    for r, reg in enumerate(s.regs):
        mine = [f"TERMINAL({b})" for b in range(nb) if s.binding_reg[b] == r]
        w(f"  :: d_step {{ prov_reg[{r}] == R_DEREG_PENDING && {_any(mine, '&&')} ->   /* {reg} */")
        w(f"       prov_reg[{r}] = R_DRAINED }}")
    for b in range(nb):
        w(f"  :: d_step {{ cli_reg[{b}] == R_DEREG_PENDING && TERMINAL({b}) ->"
          f"   /* {s.client_names[b]}.Cli */")
        w(f"       cli_reg[{b}] = R_DRAINED }}")
    w("  od")
    w("}")
    w("")
    # -- the bundled spec as a monitor
    prov_b = [f"TERMINAL({b})" for b in range(nb)]
    unload_waits = [f"(prov_state != UNLOADED || ({_any(prov_b, '&&')}))"]
    unload_waits += [f"(cli_state[{b}] != UNLOADED || TERMINAL({b}))" for b in range(nb)]
    closed = [
        "(prov_state != UNLOADED || ("
        + " && ".join(f"(prov_reg[{r}] == R_NONE || prov_reg[{r}] == R_CLOSED)" for r in range(nr))
        + "))"
    ]
    closed += [
        f"(cli_state[{b}] != UNLOADED || cli_reg[{b}] == R_NONE || cli_reg[{b}] == R_CLOSED)"
        for b in range(nb)
    ]
    no_cb = [f"(prov_state != UNLOADED || !({_any([f'P_IN_CB({b})' for b in range(nb)], '||')}))"]
    no_cb += [f"(cli_state[{b}] != UNLOADED || !C_IN_CB({b}))" for b in range(nb)]
    w("/* specs/lifecycle.spec, checked in every state. The binding tasks never rest inside a")
    w("   run (each is one step), so 'running' is 'in_callback' here. */")
    w("#define unload_waits_for_bindings (" + " && ".join(unload_waits) + ")")
    w("#define registrations_closed_at_unload (" + " && ".join(closed) + ")")
    w("#define no_callback_after_unload (" + " && ".join(no_cb) + ")")
    w("#define no_code_after_unload no_callback_after_unload")
    w("active proctype monitor() {")
    w("end_idle:")
    w("  atomic {")
    w("    !(unload_waits_for_bindings && registrations_closed_at_unload &&")
    w("      no_callback_after_unload && no_code_after_unload) ->")
    w("    assert(unload_waits_for_bindings);   /* nmrcheck: unload_waits_for_bindings */")
    w("    assert(registrations_closed_at_unload);"
      "   /* nmrcheck: registrations_closed_at_unload */")
    w("    assert(no_callback_after_unload);   /* nmrcheck: no_callback_after_unload */")
    w("    assert(no_code_after_unload)   /* nmrcheck: no_code_after_unload */")
    w("  }")
    w("}")
    return "\n".join(out) + "\n"


# -- the safety properties of the bundled spec ---------------------------------------------------

MONITORED = ("unload_waits_for_bindings", "registrations_closed_at_unload",
             "no_callback_after_unload", "no_code_after_unload")


def safety_spec() -> str:
    """specs/lifecycle.spec without its liveness properties (eventually, leads_to): the
    properties the twins' monitor checks, for ``nmrcheck check --no-bundled-specs --spec``."""
    text = (BENCH.parent / "specs" / "lifecycle.spec").read_text()
    blocks = text.strip("\n").split("\n\n")
    keep = [blocks[0]]
    names = []
    for block in blocks[1:]:
        decl = [ln for ln in block.splitlines() if ln and not ln.startswith("//")]
        if decl and decl[0].split()[0] in ("invariant", "reachable"):
            keep.append(block)
            names.append(decl[0].split()[1].rstrip(":"))
    if tuple(names) != MONITORED:
        raise SystemExit(f"specs/lifecycle.spec has the safety properties {names}; the Promela "
                         f"monitor of bench/family.py checks {list(MONITORED)}: update it")
    head = ("// Generated by bench/family.py from specs/lifecycle.spec (do not edit): its safety\n"
            "// properties, which the monitor of each Promela twin checks, without its liveness\n"
            "// properties. bench/run.py's \"nmrcheck safety\" runs use it.\n\n")
    return head + "\n\n".join(keep[1:]) + "\n"


# -- files -----------------------------------------------------------------------------------


def files(max_n: int = MAX_N) -> dict[Path, str]:
    """Every generated file and its text."""
    out: dict[Path, str] = {BENCH / "safety.spec": safety_spec()}
    for design in DESIGNS:
        for n in range(1, (MUTANT_MAX_N if design in MUTANTS else max_n) + 1):
            out[MODELS / f"{design}-{n}.nmr"] = nmr_text(design, n)
            out[PROMELA / f"{design}-{n}.pml"] = pml_text(design, n)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only check the files are up to date")
    args = ap.parse_args(argv)
    stale = []
    for path, text in files().items():
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(BENCH.parent)}")
    if stale:
        for p in stale:
            print(f"out of date: {p.relative_to(BENCH.parent)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
