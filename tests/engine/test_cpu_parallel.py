"""How a CPU training run is split into processes."""

from __future__ import annotations

import pytest

from lumbarseg.engine.cpu_parallel import available_cores, cpu_train_processes


@pytest.mark.parametrize(("batch", "cores", "expected"), [
    (2, 2, 2), (2, 1, 1), (2, 16, 2), (4, 3, 2), (3, 2, 1), (16, 16, 16), (6, 4, 3),
])
def test_the_most_processes_that_split_the_batch_evenly(batch, cores, expected):
    assert cpu_train_processes(batch, cores) == expected


def test_available_cores_counts_at_least_one():
    assert available_cores() >= 1
