"""Measurements never report a number through an endplate that cannot be anatomy."""

from __future__ import annotations

import math

import numpy as np

from lumbarseg.postprocess.endplates import Endplate
from lumbarseg.postprocess.facing import infer_facing
from lumbarseg.postprocess.measurements import measure

LEVELS = ("L1", "L2", "L3", "L4", "L5", "S1")


def _plate(center, angle_deg, facing="right", length=40.0):
    """An endplate whose anterior end rises by ``angle_deg`` (image y grows downwards)."""
    forward = 1.0 if facing == "right" else -1.0
    a = math.radians(angle_deg)
    half = 0.5 * length * np.array([forward * math.cos(a), -math.sin(a)])
    c = np.asarray(center, float)
    return Endplate(anterior=c + half, posterior=c - half)


def _column(superior_angles, facing="right"):
    plates = {}
    for k, (level, angle) in enumerate(zip(LEVELS, superior_angles, strict=True)):
        top = np.array([100.0, 60.0 * k])
        plates[level] = {"superior": _plate(top, angle, facing)}
        if level != "S1":
            plates[level]["inferior"] = _plate(top + [0, 40], angle - 4, facing)
    return plates


def test_lordosis_is_l1_superior_minus_s1_superior_for_either_facing():
    angles = (10, 5, 0, -6, -14, -35)
    for facing in ("right", "left"):
        out = measure(_column(angles, facing), facing)
        assert out["lordosis_deg"] == 45.0
        assert out["sacral_slope_deg"] == 35.0
        assert out["unreliable_endplates"] == []


def test_a_misfitted_s1_endplate_withholds_the_measurements_through_it():
    # S1's "superior endplate" fitted to a cut-off blob: reversed, 138 deg off the L5 disc.
    out = measure(_column((10, 5, 0, -6, -14, 138)), "right")
    assert out["unreliable_endplates"] == ["S1"]
    assert out["lordosis_deg"] is None and out["sacral_slope_deg"] is None
    assert "L5-S1" not in out["segmental_angles_deg"]
    assert out["segmental_angles_deg"]["L1-L2"] == 5.0


def test_angles_wrap_instead_of_jumping_by_360():
    out = measure(_column((170, 175, 179, -178, -175, -170)), "right")
    assert out["segmental_angles_deg"]["L3-L4"] == -3.0
    assert out["lordosis_deg"] == -20.0


def test_one_bad_endplate_does_not_flip_the_facing():
    down, side = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    rises = [10, 5, 0, -6, -14, 40]  # lordotic fan, the last endplate misfitted
    plates = [_plate((100, 60 * k), r, "right") for k, r in enumerate(rises)]
    centroids = np.array([[100.0 - 2 * (k - 2.5) ** 2, 60.0 * k] for k in range(6)])  # bows forward
    facing, confidence = infer_facing(plates, centroids, down, side, width=40.0)
    assert facing == "right" and confidence > 0.9
