"""Training hooks: validation loss, so over-fitting shows up in the metrics log."""

from __future__ import annotations

import itertools
import time

import torch
from detectron2.engine import HookBase
from detectron2.utils import comm


class ValidationLoss(HookBase):
    """Every ``period`` iterations, average the training losses over (part of) a validation set.

    Runs the model in training mode (losses need ground truth) under ``no_grad``; models here
    use GroupNorm or frozen BatchNorm, so no running statistics are disturbed.
    """

    def __init__(self, period: int, data_loader, max_batches: int = 50):
        self._period = period
        self._loader = data_loader
        self._max_batches = max_batches

    def _compute(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        count = 0
        with torch.no_grad():
            for batch in itertools.islice(self._loader, self._max_batches):
                losses = self.trainer.model(batch)
                for key, value in losses.items():
                    totals[key] = totals.get(key, 0.0) + float(value)
                count += 1
        return {f"val_{k}": v / max(count, 1) for k, v in totals.items()}

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        is_final = next_iter == self.trainer.max_iter
        if self._period <= 0 or not (is_final or next_iter % self._period == 0):
            return
        means = self._compute()
        gathered = comm.gather(means, dst=0)
        if comm.is_main_process():
            merged = {k: sum(g[k] for g in gathered) / len(gathered) for k in means}
            merged["val_total_loss"] = sum(merged.values())
            self.trainer.storage.put_scalars(**merged, smoothing_hint=False)


class ConsoleProgress(HookBase):
    """One short line every ``period`` iterations, for runs whose Detectron2 log goes to a file."""

    def __init__(self, period: int = 50):
        self._period = period
        self._start = 0.0

    def before_train(self) -> None:
        self._start = time.perf_counter()

    def after_step(self) -> None:
        done = self.trainer.iter + 1 - self.trainer.start_iter
        total = self.trainer.max_iter - self.trainer.start_iter
        if done % self._period and done != total:
            return
        elapsed = time.perf_counter() - self._start
        loss = self.trainer.storage.history("total_loss").median(self._period)
        eta = elapsed / done * (total - done)
        print(f"  iter {self.trainer.iter + 1}/{self.trainer.max_iter}  loss {loss:.3f}  "
              f"{elapsed / done:.2f} s/iter  eta {eta / 60:.1f} min", flush=True)
