"""Training hooks: validation loss, so over-fitting shows up in the metrics log."""

from __future__ import annotations

import itertools
import time

import torch
from detectron2.engine import HookBase
from detectron2.utils import comm
from detectron2.utils.events import EventStorage


class ValidationLoss(HookBase):
    """Every ``period`` iterations, average the training losses over (part of) a validation set.

    Runs the model in training mode (losses need ground truth) under ``no_grad``; models here
    use GroupNorm or frozen BatchNorm, so no running statistics are disturbed. The forward
    passes write into a private ``EventStorage``: what the heads log for themselves
    (``fast_rcnn/cls_accuracy``, ``roi_head/num_fg_samples``...) must not mix into the training
    curves. Everything is logged under ``val/`` names (``val/loss_mask``, ``val/total_loss``,
    ``val/fast_rcnn/cls_accuracy``...).
    """

    PREFIX = "val/"

    def __init__(self, period: int, data_loader, max_batches: int = 50):
        self._period = period
        self._loader = data_loader
        self._max_batches = max_batches

    def _compute(self) -> tuple[dict[str, float], dict[str, float]]:
        """(mean losses, mean side scalars the model logged) over the batches, unprefixed."""
        totals: dict[str, float] = {}
        count = 0
        with torch.no_grad(), EventStorage(self.trainer.iter) as side:
            for batch in itertools.islice(self._loader, self._max_batches):
                losses = self.trainer.model(batch)
                for key, value in losses.items():
                    totals[key] = totals.get(key, 0.0) + float(value)
                count += 1
        scalars = {
            name: sum(v for v, _ in history.values()) / len(history.values())
            for name, history in side.histories().items()
            if history.values() and name not in totals
        }
        return {k: v / max(count, 1) for k, v in totals.items()}, scalars

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        is_final = next_iter == self.trainer.max_iter
        if self._period <= 0 or not (is_final or next_iter % self._period == 0):
            return
        gathered = comm.gather(self._compute(), dst=0)
        if not comm.is_main_process():
            return
        losses = _mean_over_ranks([g[0] for g in gathered])
        merged = {**_mean_over_ranks([g[1] for g in gathered]), **losses}
        merged["total_loss"] = sum(losses.values())
        self.trainer.storage.put_scalars(
            **{self.PREFIX + k: v for k, v in merged.items()}, smoothing_hint=False
        )


def _mean_over_ranks(per_rank: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for values in per_rank for k in values}
    return {
        k: sum(v[k] for v in per_rank if k in v) / sum(k in v for v in per_rank)
        for k in sorted(keys)
    }


class ConsoleProgress(HookBase):
    """One short line every ``period`` iterations, for runs whose Detectron2 log goes to a file.

    Prints from the main process only: the others neither log the loss nor own the console."""

    def __init__(self, period: int = 50):
        self._period = period
        self._start = 0.0

    def before_train(self) -> None:
        self._start = time.perf_counter()

    def after_step(self) -> None:
        if not comm.is_main_process():
            return
        done = self.trainer.iter + 1 - self.trainer.start_iter
        total = self.trainer.max_iter - self.trainer.start_iter
        if done % self._period and done != total:
            return
        elapsed = time.perf_counter() - self._start
        loss = self.trainer.storage.history("total_loss").median(self._period)
        eta = elapsed / done * (total - done)
        print(f"  iter {self.trainer.iter + 1}/{self.trainer.max_iter}  loss {loss:.3f}  "
              f"{elapsed / done:.2f} s/iter  eta {eta / 60:.1f} min", flush=True)
