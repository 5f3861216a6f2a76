"""Symmetry reduction stays on, and sound, for replicated drivers that use the kernel
primitives: per-binding rundowns, counts and slots of driver objects, kept binding handles,
shared locks held per thread, NPI functions with epochs, IO work items, tasks at
DISPATCH_LEVEL, registration attributes and `fair Unload`."""

from __future__ import annotations

import pytest
from ahead import ahead

from nmrcheck.engines.explicit.checker import check
from nmrcheck.engines.explicit.symmetry import analyse
from nmrcheck.nmr.load import bundled_specs, load_text

# The whole design has 2.5 million orbits at two links (64 s with symmetry, twice that
# without) and more than ten minutes at three; the test compares a smaller variant, in the full
# suite only.
pytestmark = pytest.mark.slow

MODEL = """
npi N
driver P {
  provider Prov of N with (version = 2)
  rwspinlock L
  object Table = VALID
  binding var listed in Table: bool = false
  binding rundown R
  binding refcount Refs = 1 max 2
  var last: HANDLE = NULL

  ProviderAttachClient {
    atomic { acquire(L); listed = true; release(L) }
    last = binding
    return STATUS_SUCCESS
  }
  binding task Call at DISPATCH_LEVEL when (listed) {
    var ok: bool = false
    atomic { acquire_shared(L); if (listed) { ok = ExAcquireRundownProtection(R) }; release_shared(L) }
    if (ok) {
      npi_call(Invoke)
      ExReleaseRundownProtection(R)
    }
  }
  ProviderDetachClient {
    atomic { acquire(L); listed = false; release(L) }
    dereference(Refs)
    return STATUS_PENDING
  }
  on Refs == 0 { queue(Done) }
  binding ioworkitem Done {
    ExWaitForRundownProtectionRelease(R)
    NmrProviderDetachClientComplete(binding)
  }
  Unload {
    s = NmrDeregisterProvider(Prov)
    NmrWaitForProviderDeregisterComplete(Prov)
  }
}
driver Link[%d] {
  client Cli of N
  ClientAttachProvider {
    if (peer.version < 2) { return STATUS_NOINTERFACE }
    return NmrClientAttachProvider()
  }
  dispatch Invoke {
    ebpf_epoch_enter()
    ebpf_epoch_exit()
  }
  Unload {
    s = NmrDeregisterClient(Cli)
    NmrWaitForClientDeregisterComplete(Cli)
  }
  fair Unload
}
"""


EPOCH = "    ebpf_epoch_enter()\n    ebpf_epoch_exit()\n"


def _load(n: int, model: str = MODEL):
    specs = [(f, open(f).read()) for f in bundled_specs()]
    return load_text(model % n, "sym.nmr", specs)


def _summary(result) -> dict[str, tuple[str, int | None]]:
    out = {}
    for r in result.results:
        length = None
        if r.trace is not None and r.property != "no_hang":
            length = len(r.trace)
        out[r.property] = (r.verdict, length)
    return out


def test_the_whole_design_is_reduced():
    sym, why = analyse(_load(3))
    assert sym is not None, why


# without the kept handle and the epoch (805,000 orbits instead of 2.5 million)
SMALLER = MODEL.replace("    last = binding\n", "").replace(EPOCH, "")


def search(symmetry: str):
    """Every property of the smaller variant at two links, decided by one exploration; the
    two searches run side by side in worker processes (tests/ahead.py), 25 to 45 s in all."""
    return check(_load(2, SMALLER), symmetry=symmetry)[0]


def test_liveness_and_hangs_agree_under_the_reduction():
    with ahead(search, {"off": ("off",), "auto": ("auto",)}) as runs:
        plain, reduced = runs.get("off"), runs.get("auto")
    verdicts = {r.property: r.verdict for r in plain.results}
    assert verdicts == {r.property: r.verdict for r in reduced.results}  # safety, hangs, liveness
    assert [p for p, v in verdicts.items() if v == "violated"] == []  # the design holds
    assert reduced.stats["symmetry"]["used"]


