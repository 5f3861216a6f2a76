"""Heavy per-model work computed ahead of the tests that assert on it, in worker processes.

The full suite must stay within its budget on the 2-core CI machine, and its heaviest tests
(the engines' agreement over the catalogue, the partial-order reduction on the designs) are one
independent computation per model. A module-scoped fixture starts ``WORKERS`` processes when
the first test of the module runs and hands them the work of every *selected* test of the
module; each test then waits for its own model's answers and asserts on them (replays, fresh
re-checks and the like stay in the test process). The answers are those of one process: the
work is deterministic and a worker is an ordinary Python process importing the same code.

``NMRCHECK_TEST_WORKERS=1`` does the work in the test process instead, when the test asks.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support import ROOT

WORKERS = max(1, min(2, os.cpu_count() or 1, int(os.environ.get("NMRCHECK_TEST_WORKERS", "2"))))


def selected(request: Any, name: str = "path") -> list[Any]:
    """The values of parameter ``name`` of the selected tests of the requesting module (the
    fixture's ``request``), in the order they run."""
    here = Path(str(request.path)).resolve()
    return [item.callspec.params[name] for item in request.session.items
            if Path(str(item.path)).resolve() == here and hasattr(item, "callspec")
            and name in item.callspec.params]


class Ahead:
    """``fn(*args)`` for each key, computed in worker processes (or on demand in this one)."""

    def __init__(self, fn: Callable[..., Any], args: dict[Hashable, tuple], jobs: dict) -> None:
        self.fn, self.args, self.jobs = fn, args, jobs

    def get(self, key: Hashable) -> Any:
        """The answer for ``key`` (re-raising what the work raised)."""
        job = self.jobs.get(key)
        return self.fn(*self.args[key]) if job is None else job.get()


@contextmanager
def ahead(fn: Callable[..., Any], args: dict[Hashable, tuple]) -> Iterator[Ahead]:
    """Start ``fn(*args[key])`` for every key in ``WORKERS`` processes (none when 1, or with
    fewer than two keys); leaving the block ends the workers, done or not (after a failure
    under ``-x``, say). ``fn`` must be a module-level function of an importable module, and
    its arguments and answer picklable; it runs with the project root as working directory."""
    if WORKERS == 1 or len(args) < 2:
        yield Ahead(fn, args, {})
        return
    # spawned, not forked: no state of this process (Z3 contexts, threads) is shared
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WORKERS, initializer=os.chdir, initargs=(str(ROOT),)) as pool:
        yield Ahead(fn, args, {k: pool.apply_async(fn, a) for k, a in args.items()})
