"""ValidationLoss logs only under val/ names and leaves the training scalars alone."""

from __future__ import annotations

import pytest
import torch
from detectron2.utils.events import EventStorage, get_event_storage

from lumbarseg.engine.hooks import ValidationLoss


class _LoggingModel(torch.nn.Module):
    """Like Detectron2's heads: returns losses and logs side scalars into the current storage."""

    def forward(self, batch):
        value = float(batch[0]["value"])
        storage = get_event_storage()
        storage.put_scalar("fast_rcnn/cls_accuracy", value / 10)
        storage.put_scalar("roi_head/num_fg_samples", value)
        return {"loss_cls": torch.tensor(value), "loss_mask": torch.tensor(2 * value)}


class _Trainer:
    def __init__(self, storage):
        self.model, self.storage = _LoggingModel(), storage
        self.iter, self.max_iter = 9, 100


def test_validation_keeps_out_of_training_scalars():
    loader = [[{"value": 1.0}], [{"value": 3.0}]]
    hook = ValidationLoss(period=10, data_loader=loader)
    with EventStorage(9) as storage:
        # what the training step logged at this iteration
        storage.put_scalar("fast_rcnn/cls_accuracy", 0.9)
        storage.put_scalar("roi_head/num_fg_samples", 64.0)
        storage.put_scalar("loss_cls", 0.5)
        hook.trainer = _Trainer(storage)
        hook.after_step()
        latest = {k: v for k, (v, _) in storage.latest().items()}
        histories = {k: h.values() for k, h in storage.histories().items()}

    # the training values are untouched, one entry each
    assert latest["fast_rcnn/cls_accuracy"] == 0.9 and len(histories["fast_rcnn/cls_accuracy"]) == 1
    assert latest["roi_head/num_fg_samples"] == 64.0
    assert latest["loss_cls"] == 0.5 and len(histories["loss_cls"]) == 1
    # validation went under its own names: means over the two batches
    assert latest["val/loss_cls"] == pytest.approx(2.0)
    assert latest["val/loss_mask"] == pytest.approx(4.0)
    assert latest["val/total_loss"] == pytest.approx(6.0)
    assert latest["val/fast_rcnn/cls_accuracy"] == pytest.approx(0.2)
    assert latest["val/roi_head/num_fg_samples"] == pytest.approx(2.0)
    assert all(k.startswith("val/") for k in latest if k not in
               {"fast_rcnn/cls_accuracy", "roi_head/num_fg_samples", "loss_cls"})


def test_validation_runs_only_at_the_period():
    hook = ValidationLoss(period=10, data_loader=[[{"value": 1.0}]])
    with EventStorage(4) as storage:
        trainer = _Trainer(storage)
        trainer.iter = 4
        hook.trainer = trainer
        hook.after_step()
        assert not storage.histories()
