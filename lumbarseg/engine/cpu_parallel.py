"""Data-parallel training on the CPU: several processes, each with its share of the batch.

Detectron2's ``launch`` starts CPU processes over gloo (``tools/train_net.py --num-gpus N``
with a CPU config, or ``lumbarseg demo --train-processes N``); the two things it does not do
for CPU processes are done here. It is not the default: on the 2-core machines this project
is developed on, two single-threaded processes with one image each trained the demo recipe at
0.98x the speed of one process with a loader process beside it (0.737 against 0.723 s/iter,
three alternating rounds, ``benchmarks/bench_cpu_parallel.py``, 2026-12-06).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import torch
from detectron2.utils import comm


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def cpu_data_parallel(device: str) -> Iterator[None]:
    """Around ``DefaultTrainer.__init__`` in a launched CPU process: give each process its
    share of the cores (torch would start one thread per core in every process), and wrap
    the model without ``device_ids``, which Detectron2's ``create_ddp_model`` sets to the
    local rank and torch refuses for a CPU module (detectron2 issue #5146)."""
    import detectron2.engine.defaults as d2_defaults

    if not device.startswith("cpu") or comm.get_world_size() == 1:
        yield
        return
    torch.set_num_threads(max(1, available_cores() // comm.get_local_size()))
    original = d2_defaults.create_ddp_model
    d2_defaults.create_ddp_model = partial(original, device_ids=None)
    try:
        yield
    finally:
        d2_defaults.create_ddp_model = original
