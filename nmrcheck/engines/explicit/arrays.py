"""Bulk operations on the explored graph with numpy: the graph's arrays are read and written
as whole vectors, not edge by edge in Python.

The search appends each edge as one int (``codegen.EDGE_SHIFT``); :func:`split_edges` turns
them into the separate arrays the analyses index (``array.array``, cheap to read element by
element from Python). :func:`enabled_groups` gives each state the fairness groups of the
actions it enables.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np

from nmrcheck.engines.explicit.codegen import ACTION_SHIFT, EDGE_SHIFT

CHUNK = 1 << 22  # edges converted at a time (bounds the memory the conversion adds)


def split_edges(packed: array, actions: int,
                mapped: bool) -> tuple[array, array, array | None]:
    """``(dst, act, perm)`` of the edges ``packed`` (``perm`` None when not ``mapped``).

    The packed array is emptied as it is converted, so the peak memory is the split arrays
    plus one chunk."""
    dst, act = array("I"), array("H" if actions < 1 << 16 else "I")
    perm = array("H") if mapped else None
    n = len(packed)
    for lo in range(0, n, CHUNK):
        _split_chunk(packed, lo, min(CHUNK, n - lo), dst, act, perm)
    del packed[:]
    return dst, act, perm


def _split_chunk(packed: array, lo: int, count: int, dst: array, act: array,
                 perm: array | None) -> None:
    v = np.frombuffer(packed, dtype=np.uint64, count=count, offset=8 * lo)
    dst.frombytes((v >> np.uint64(EDGE_SHIFT)).astype(np.uint32).tobytes())
    a = (v >> np.uint64(ACTION_SHIFT)) & np.uint64(0xFFFF)
    act.frombytes(a.astype(np.uint16 if act.typecode == "H" else np.uint32).tobytes())
    if perm is not None:
        perm.frombytes((v & np.uint64(0xFFFF)).astype(np.uint16).tobytes())


def enabled_groups(first: Sequence[int], act: array,
                   action_groups: Sequence[int]) -> array | list[int]:
    """Per state, the mask of the fairness groups of the actions its edges take."""
    n = len(first) - 1
    if max(action_groups, default=0) >> 64:  # more than 64 groups: in Python
        out = [0] * n
        for i in range(n):
            m = 0
            for e in range(first[i], first[i + 1]):
                m |= action_groups[act[e]]
            out[i] = m
        return out
    groups = np.array(action_groups, dtype=np.uint64)
    per_edge = groups[np.frombuffer(act, dtype=np.uint16 if act.typecode == "H" else np.uint32)]
    starts = np.frombuffer(first, dtype=np.uint32).astype(np.int64)
    out = np.zeros(n, dtype=np.uint64)
    nonempty = starts[1:] > starts[:-1]
    if len(per_edge):
        sums = np.bitwise_or.reduceat(per_edge, np.minimum(starts[:-1], len(per_edge) - 1))
        out[nonempty] = sums[nonempty]
    result = array("Q")
    result.frombytes(out.tobytes())
    return result
