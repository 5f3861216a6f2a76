"""How ``check --ray`` shares the models out (nmrcheck/distributed/lanes.py): the driver's
models and the workers' shares, the same for the same input."""

from __future__ import annotations

from nmrcheck.distributed.lanes import driver_share, partition


def test_the_driver_takes_the_smallest_models_up_to_its_share():
    sizes = [50, 5, 40, 10, 30, 20]  # 155 in all: the driver's third is at most 51
    assert driver_share(sizes, 2) == [1, 3, 5]  # 5 + 10 + 20
    assert driver_share([100], 1) == []  # one model: a worker's
    assert driver_share([], 3) == []


def test_the_workers_shares_are_balanced_largest_first():
    sizes = [50, 5, 40, 10, 30, 20]
    assert partition(sizes, 2) == [[0, 5, 3], [2, 4, 1]]  # 80 and 75
    assert partition(sizes, 2, skip=[1, 3, 5]) == [[0], [2, 4]]
    assert partition(sizes, 1) == [[0, 2, 4, 5, 3, 1]]
    assert partition([7, 7, 7], 3) == [[0], [1], [2]]  # ties to the lowest share, by index
