"""The numpy operations on the explored graph agree with plain Python on random graphs."""

from __future__ import annotations

from array import array

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmrcheck.engines.explicit.arrays import (
    Graph,
    distinct,
    distinct_inverse,
    dump_masks,
    enabled_groups,
    load_masks,
    split_edges,
)
from nmrcheck.engines.explicit.codegen import ACTION_SHIFT, EDGE_SHIFT
from nmrcheck.engines.explicit.scc import tarjan


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 12))
    rows = [draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 5)), max_size=4))
            for _ in range(n)]
    first, dst, act = array("I", [0]), array("I"), array("H")
    for row in rows:
        for d, a in row:
            dst.append(d)
            act.append(a)
        first.append(len(dst))
    return first, dst, act


@settings(max_examples=200, deadline=None)
@given(graphs(), st.lists(st.integers(0, 2**40), min_size=6, max_size=6))
def test_enabled_groups_is_the_or_of_each_row(g, groups):
    first, _, act = g
    got = enabled_groups(first, act, groups)
    for i in range(len(first) - 1):
        want = 0
        for e in range(first[i], first[i + 1]):
            want |= groups[act[e]]
        assert got[i] == want


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_split_edges_undoes_the_packing(g):
    _, dst, act = g
    packed = array("Q", [d << EDGE_SHIFT | a << ACTION_SHIFT | (d + a) % 7
                         for d, a in zip(dst, act)])
    d2, a2, p2 = split_edges(packed, 6, True)
    assert list(d2) == list(dst) and list(a2) == list(act)
    assert list(p2) == [(d + a) % 7 for d, a in zip(dst, act)]
    assert len(packed) == 0


@settings(max_examples=200, deadline=None)
@given(graphs(), st.booleans())
def test_components_and_their_levels_match_tarjan(g, with_scipy):
    from nmrcheck.engines.explicit import arrays

    first, dst, act = g
    old = arrays.SCIPY_FROM
    arrays.SCIPY_FROM = 0 if with_scipy else old  # both ways of labelling and ordering
    try:
        graph = Graph(first, dst, act, None)
        levels = graph.sinks_first()
    finally:
        arrays.SCIPY_FROM = old
    comp, comps = tarjan(len(first) - 1, first, dst)
    same = {frozenset(c) for c in comps}
    mine = {frozenset(np.flatnonzero(graph.label == k).tolist()) for k in range(graph.ncomp)}
    assert same == mine
    level_of = {}
    for k, level in enumerate(levels):
        for c in level.tolist():
            level_of[c] = k
    assert len(level_of) == graph.ncomp  # every component gets a level
    for s in range(len(first) - 1):  # an edge leads to a component of an earlier level
        for e in range(first[s], first[s + 1]):
            a, b = graph.label[s], graph.label[dst[e]]
            assert a == b or level_of[b] < level_of[a]


@pytest.mark.parametrize("n", [0, 1, 2, 5, 1000])
@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.uint16])
def test_distinct_values_are_numpys_unique(n, dtype):
    a = np.random.default_rng(n).integers(0, 7, n).astype(dtype)
    assert np.array_equal(distinct(a), np.unique(a))
    values, inverse = distinct_inverse(a)
    want_values, want_inverse = np.unique(a, return_inverse=True)
    assert np.array_equal(values, want_values)
    assert np.array_equal(inverse, want_inverse.reshape(-1))


def test_masks_sent_to_another_process_come_back_the_same():
    narrow = [array("Q", [0, 5, 2**64 - 1]), np.array([1, 2, 3], dtype=np.uint64)]
    wide = [[0, 2**70, 3], np.array([2**65, 1], dtype=object)]
    got = load_masks(dump_masks(*narrow, *wide))
    assert [list(c) for c in got] == [[0, 5, 2**64 - 1], [1, 2, 3], [0, 2**70, 3], [2**65, 1]]
    assert [type(c) for c in got] == [array, array, list, list]
