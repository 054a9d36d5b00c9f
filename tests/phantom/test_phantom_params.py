"""Distribution of the drawn parameters matches the request (no rendering)."""

from __future__ import annotations

import numpy as np
import pytest

from lumbarseg.errors import LumbarsegError
from lumbarseg.phantom import DIFFICULTIES, PhantomConfig, sample_params, sample_patient
from lumbarseg.phantom.generate import plan_jobs

DRAWS = 400


def _share(flags) -> float:
    return float(np.mean(flags))


def _tolerance(p: float, n: int = DRAWS) -> float:
    return 4.5 * np.sqrt(p * (1 - p) / n) + 1e-9


def _draws(config: PhantomConfig, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [sample_params(rng, config, sample_patient(rng, config, i)) for i in range(DRAWS)]


@pytest.mark.parametrize("share", [0.0, 0.3, 0.75, 1.0])
def test_postop_share_matches_request(share):
    draws = _draws(PhantomConfig(postop_share=share))
    assert abs(_share([p.postop for p in draws]) - share) <= _tolerance(share)
    for p in draws:
        if p.postop:
            assert p.implants["fused"] and (p.implants["screws"] or p.implants["cages"]
                                            or p.implants["plate"])


@pytest.mark.parametrize("difficulty", sorted(DIFFICULTIES))
def test_disease_and_view_shares_follow_the_difficulty(difficulty):
    preset = DIFFICULTIES[difficulty]
    draws = _draws(PhantomConfig(difficulty=difficulty), seed=1)
    assert abs(_share([bool(p.listhesis) for p in draws]) - preset.listhesis) <= _tolerance(
        preset.listhesis)
    assert abs(_share([bool(p.fractures) for p in draws]) - preset.fracture) <= _tolerance(
        preset.fracture)
    transitional = _share([p.patient.transitional is not None for p in draws])
    assert abs(transitional - preset.transitional) <= _tolerance(preset.transitional)
    top = _share([p.fov["top_cut"] is not None for p in draws])
    assert abs(top - preset.fov_cut_top) <= _tolerance(preset.fov_cut_top)
    assert abs(_share([p.facing == "left" for p in draws]) - 0.5) <= _tolerance(0.5)
    assert all(abs(p.rotation_deg) <= preset.rotation_deg for p in draws)
    slips = [s["percent"] for p in draws for s in p.listhesis.values()]
    assert all(abs(s) <= preset.max_slip_percent + 1e-9 for s in slips)


def test_lordosis_and_size_ranges():
    draws = _draws(PhantomConfig(size=300, aspect=(0.8, 0.9)))
    lordosis = np.array([p.lordosis_target_deg for p in draws])
    assert lordosis.min() >= 20 and lordosis.max() <= 70
    assert lordosis.std() > 10  # spread over the range, not a constant
    assert all(p.size[0] == 300 and 240 <= p.size[1] <= 270 for p in draws)


def test_series_plan_matches_monochrome_and_compression_shares():
    config = PhantomConfig(monochrome1_share=0.4, compressed_share=0.3)
    jobs = plan_jobs(DRAWS, 3, config)
    assert len(jobs) == DRAWS
    assert abs(_share([j.compressed for j in jobs]) - 0.3) <= _tolerance(0.3)
    series = {j.series.uid: j.series for j in jobs}
    mono1 = _share([s.photometric == "MONOCHROME1" for s in series.values()])
    assert abs(mono1 - 0.4) <= _tolerance(0.4, len(series))
    assert {s.bits_stored for s in series.values()} <= set(range(10, 17))
    assert len({j.patient for j in jobs}) < DRAWS  # several images per patient


def test_bad_requests_raise_one_line_errors():
    with pytest.raises(LumbarsegError, match="difficulty"):
        PhantomConfig(difficulty="extreme")
    with pytest.raises(LumbarsegError, match="size"):
        PhantomConfig(size=4096)
    with pytest.raises(LumbarsegError, match="postop_share"):
        PhantomConfig(postop_share=1.5)
