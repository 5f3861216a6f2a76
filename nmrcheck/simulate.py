"""``nmrcheck simulate``: one run of a design, random (reproducible from its seed) or picked
step by step, as SPIN's random and interactive simulations.

The run walks the compiled transition system (the successor function the explicit engine
uses) and checks the safety properties in every state it reaches: a state where an
invariant fails, a halted (crashed) state, or a state where every running routine is
blocked stops the run with the usual violation report. Liveness properties speak about
infinite runs and are left to ``nmrcheck check``.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field, replace
from typing import TextIO

from nmrcheck.commands.types import knob_arg, spec_args
from nmrcheck.commands.types import positive as _positive
from nmrcheck.engines.common.results import HANG, VIOLATED, PropertyResult
from nmrcheck.engines.explicit.codegen import Compiled, compile_system
from nmrcheck.ir import INVARIANT, TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.report.describe import defined_at, hang_message, meaning, ordered
from nmrcheck.traces.steps import describe, step_line, step_lines

DEFAULT_STEPS = 200
EXIT_OK, EXIT_VIOLATED = 0, 1
HELP = "pick a step by its number; r: a random step, b: back one step, q: quit"


@dataclass
class Run:
    """A run so far: packed states ``s0 .. sn`` and the actions between them."""

    states: list[int]
    actions: list[int] = field(default_factory=list)

    def trace(self, comp: Compiled) -> Trace:
        unpack = comp.layout.unpack
        return Trace(tuple(unpack(s) for s in self.states), tuple(self.actions))


@dataclass(frozen=True)
class Stop:
    """Why a run stopped: ``violated`` names the properties that fail in its last state."""

    violated: tuple[str, ...] = ()
    blocked: tuple[int, ...] = ()  # slots blocked forever (a hang), when nothing can move
    note: str = ""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``nmrcheck simulate``."""
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--seed", type=_seed, metavar="S",
                   help="seed of the random choices (default: a fresh one, printed)")
    p.add_argument("--steps", type=_positive, default=DEFAULT_STEPS, metavar="N",
                   help=f"stop after N steps (default {DEFAULT_STEPS})")
    p.add_argument("--interactive", action="store_true",
                   help=f"list the enabled steps in NMR words and let you choose ({HELP})")
    spec_args(p)
    knob_arg(p)


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return v


def run(args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    """Run ``nmrcheck simulate`` with parsed ``args``; returns the exit code."""
    from nmrcheck.nmr.load import load
    from nmrcheck.nmr.options import parse_assignments

    ts = load(args.model, args.spec, bundled=not args.no_bundled_specs,
              options=parse_assignments(args.option))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    sim = Simulation(ts, seed)
    if args.interactive:
        return interactive(sim, args.model, inp, out)
    return random_run(sim, args.model, args.steps, out)


class Simulation:
    """One design's compiled successor function, its safety checks and a seeded chooser."""

    def __init__(self, ts: TransitionSystem, seed: int):
        self.ts = ts
        self.seed = seed
        self.comp = compile_system(ts)
        self.rng = random.Random(seed)
        self.invariants = [(i, p.name) for i, p in enumerate(ts.properties)
                           if p.kind == INVARIANT]
        self.run = Run([self.comp.layout.pack(ts.initial_state())])

    def enabled(self) -> list[tuple[int, int]]:
        """The steps enabled in the run's last state, as (action, next state), in action order
        (so a seed picks the same steps whatever order the generated code lists them in)."""
        succ, _ = self.comp.successors(self.run.states[-1])
        return sorted(succ)

    def take(self, step: tuple[int, int]) -> None:
        self.run.actions.append(step[0])
        self.run.states.append(step[1])

    def back(self) -> bool:
        """Undo the last step; False at the initial state."""
        if not self.run.actions:
            return False
        self.run.actions.pop()
        self.run.states.pop()
        return True

    def pick(self, steps: list[tuple[int, int]]) -> tuple[int, int]:
        return steps[self.rng.randrange(len(steps))]

    def stop(self) -> Stop | None:
        """Why the run must stop in its last state (a failed invariant, a halted or a
        blocked state), or None."""
        s = self.run.states[-1]
        failed = tuple(name for i, name in self.invariants if not self.comp.checks[i](s))
        succ, en = self.comp.successors(s)
        if failed:
            return Stop(failed)
        if en == -1:
            return Stop(note="the run halted (a crash) without breaking a checked property")
        if not succ:
            busy = self.comp.busy(s)
            blocked = tuple(k for k in range(len(self.ts.slots)) if busy >> k & 1)
            return Stop((HANG,), blocked) if blocked else Stop(
                note="nothing is left to run: every routine has returned")
        return None

    def step_of(self, index: int, action: int, after: int, before: int):
        """The Step of taking ``action`` from ``before`` to ``after``, numbered ``index``."""
        unpack = self.comp.layout.unpack
        tr = Trace((unpack(before), unpack(after)), (action,))
        return replace(describe(self.ts, tr)[0], index=index)


def reproduce(model: str, seed: int, steps: int) -> str:
    return f"nmrcheck simulate {model} --seed {seed} --steps {steps}"


def random_run(sim: Simulation, model: str, steps: int, out: TextIO) -> int:
    """One random run of at most ``steps`` steps, printed in the trace format."""
    stop = sim.stop()
    while stop is None and len(sim.run.actions) < steps:
        sim.take(sim.pick(sim.enabled()))
        stop = sim.stop()
    if stop is not None and stop.violated:
        out.write(violation_report(sim, model, stop, reproduce(model, sim.seed, steps)))
        return EXIT_VIOLATED
    n = len(sim.run.actions)
    out.write(f"{model}: no violation in this run of {n} steps (simulation, seed {sim.seed}; "
              "one run proves nothing: nmrcheck check explores them all)\n")
    for line in _trace_lines(sim):
        out.write(line + "\n")
    why = stop.note if stop is not None else f"the step limit ({steps}) is reached"
    out.write(f"  (the run ends: {why})\n")
    out.write(f"  Reproduce: {reproduce(model, sim.seed, steps)}\n")
    return EXIT_OK


def _trace_lines(sim: Simulation) -> list[str]:
    lines: list[str] = []
    for s in describe(sim.ts, sim.run.trace(sim.comp)):
        lines.extend(step_lines(s))
    return lines


def violation_report(sim: Simulation, model: str, stop: Stop, again: str) -> str:
    """The usual report of a violation: verdict first, the run, then how to see it again."""
    ts = sim.ts
    results = ordered(ts, [PropertyResult(n, VIOLATED, "simulate") for n in stop.violated])
    main = results[0]
    main.trace = sim.run.trace(sim.comp)
    main.stats["blocked_slots"] = list(stop.blocked)
    width = max(len(r.property) for r in results)
    n = len(sim.run.actions)
    lines = [f"{model}: VIOLATED"]
    lines += [f"  {r.property:<{width}}  violated" for r in results]
    lines.append(f"search: simulation, seed {sim.seed}, one run of {n} steps")
    props = {p.name: p for p in ts.properties}
    p = props.get(main.property)
    lines += ["", f"violated: {main.property}  (defined at {defined_at(p, main.property)})"]
    text = meaning(p, main.property)
    if text:
        lines.append(f"  {text}")
    lines.append(f"  Run, {n} steps (seed {sim.seed}; not necessarily the shortest):")
    prop = main.property if main.property != HANG else None
    for s in describe(ts, main.trace, prop=prop):
        lines.extend(step_lines(s))
    lines += [f"  {m}" for m in hang_message(ts, main)]
    lines.append(f"  Reproduce: {again}")
    lines.append(f"  Shortest counterexample: nmrcheck check {model} --property {main.property}")
    return "\n".join(lines) + "\n"


# -- interactive ---------------------------------------------------------------------------
def interactive(sim: Simulation, model: str, inp: TextIO, out: TextIO) -> int:
    """Let the user pick each step (``r`` random, ``b`` back, ``q`` quit)."""
    out.write(f"{model}: interactive simulation (seed {sim.seed}); {HELP}\n")
    while True:
        stop = sim.stop()
        if stop is not None and stop.violated:
            out.write(violation_report(sim, model, stop, "nmrcheck simulate "
                                       f"{model} --interactive --seed {sim.seed}"))
            return EXIT_VIOLATED
        steps = sim.enabled()
        if stop is not None:
            out.write(f"(the run ends: {stop.note}; b: back, q: quit)\n")
        else:
            _list_steps(sim, steps, out)
        choice = _ask(sim, steps, inp, out)
        if choice is None:
            out.write(f"(quit after {len(sim.run.actions)} steps)\n")
            return EXIT_OK
        if choice == "back":
            k = len(sim.run.actions)
            out.write(f"(back to step {k - 1})\n" if sim.back() else "(at the start already)\n")
            continue
        sim.take(choice)
        k = len(sim.run.actions)
        step = sim.step_of(k, choice[0], choice[1], sim.run.states[-2])
        out.write("\n".join(step_lines(step)) + "\n")


def _list_steps(sim: Simulation, steps: list[tuple[int, int]], out: TextIO) -> None:
    k = len(sim.run.actions)
    out.write(f"after step {k}: {len(steps)} enabled\n")
    for j, (a, nxt) in enumerate(steps, 1):
        line = step_line(sim.step_of(k + 1, a, nxt, sim.run.states[-1]))
        out.write(f"  {j}) {line.split('] ', 1)[1]}\n")


def _ask(sim: Simulation, steps: list[tuple[int, int]], inp: TextIO, out: TextIO):
    """The user's choice: a step, "back", or None to quit (also at end of input)."""
    while True:
        out.write(f"step {len(sim.run.actions) + 1}> ")
        out.flush()
        line = inp.readline()
        if not line:
            out.write("\n")
            return None
        word = line.strip().lower()
        if word in ("q", "quit"):
            return None
        if word in ("b", "back"):
            return "back"
        if word in ("r", "random", "") and steps:
            return sim.pick(steps)
        if word.isdigit() and 1 <= int(word) <= len(steps):
            return steps[int(word) - 1]
        out.write(f"  {_bad_choice(word, len(steps))}\n")


def _bad_choice(word: str, n: int) -> str:
    if not n:
        return "no step is enabled: b goes back, q quits"
    return f"not a choice: {word!r}; {HELP} (1..{n})"
