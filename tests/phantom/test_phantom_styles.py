"""Imaging-style families, artefacts and zoom: deterministic per seed, and what they promise."""

from __future__ import annotations

import numpy as np
import pytest

from lumbarseg.errors import LumbarsegError
from lumbarseg.phantom import PhantomConfig, render_phantom, sample_params, sample_patient
from lumbarseg.phantom.artefacts import apply_artefacts
from lumbarseg.phantom.styles import STYLE_FAMILIES


@pytest.mark.parametrize("family", list(STYLE_FAMILIES))
def test_each_family_is_deterministic_per_seed(family):
    config = PhantomConfig(size=192, styles=(family,))
    a, b = render_phantom(11, config), render_phantom(11, config)
    assert a.params.imaging["style"] == family
    assert np.array_equal(a.pixels, b.pixels) and a.truth == b.truth
    assert not np.array_equal(render_phantom(12, config).pixels, a.pixels)


def test_families_look_different_for_the_same_anatomy():
    """Same seed, different family: same geometry (truth), different pixels."""
    images = {f: render_phantom(4, PhantomConfig(size=192, styles=(f,))) for f in STYLE_FAMILIES}
    flat = images.pop("flat")
    for image in images.values():
        assert image.instances == flat.instances
        assert np.abs(image.pixels - flat.pixels).mean() > 0.03


def test_bone_is_brighter_than_soft_tissue_in_every_family():
    for family in STYLE_FAMILIES:
        for seed in range(3):
            image = render_phantom(seed, PhantomConfig(size=256, styles=(family,),
                                                       postop_share=0.0))
            masks = image.masks()
            union = np.any(list(masks.values()), axis=0)
            bone = np.median([np.median(image.pixels[m]) for m in masks.values()])
            assert bone > np.median(image.pixels[~union]) + 0.05, (family, seed)


def test_families_are_drawn_evenly_and_unknown_ones_refused():
    config = PhantomConfig()
    rng = np.random.default_rng(0)
    draws = [sample_params(rng, config, sample_patient(rng, config, i)).imaging["style"]
             for i in range(400)]
    for family in STYLE_FAMILIES:
        assert abs(draws.count(family) / 400 - 1 / len(STYLE_FAMILIES)) < 0.1
    with pytest.raises(LumbarsegError, match="styles"):
        PhantomConfig(styles=("oil-painting",))
    with pytest.raises(LumbarsegError, match="column_fraction"):
        PhantomConfig(column_fraction=(0.9, 0.5))


@pytest.mark.parametrize("fraction", [0.4, 0.9])
def test_zoom_sets_the_share_of_the_film_the_column_spans(fraction):
    config = PhantomConfig(size=256, column_fraction=(fraction, fraction), fov_cut_share=0.0)
    for seed in range(4):
        image = render_phantom(seed, config)
        boxes = {inst["level"]: inst["bbox"] for inst in image.instances}
        top = boxes["L1"][1]
        bottom = boxes["S1"][1] + boxes["S1"][3]
        span = (bottom - top) / 256
        assert fraction * 0.75 < span < fraction * 1.1, (seed, span)


def test_collimation_never_covers_the_annotated_bodies():
    rng = np.random.default_rng(0)
    display = rng.uniform(0.2, 0.8, (200, 160)).astype(np.float32)
    before = display.copy()
    draws = {"collimation": {"left": 0.5, "right": 0.5, "top": 0.3, "value": 1.0,
                             "soft_px": 2.0}}
    keep = (60.0, 50.0, 100.0, 190.0)
    apply_artefacts(display, draws, keep)
    inside = (slice(50, 190), slice(60, 100))
    assert np.array_equal(display[inside], before[inside])
    assert (display[:, :30] > 0.99).all()  # the blade is there, just not on the column


def test_thoracic_bodies_show_above_l1_when_the_film_reaches_them():
    config = PhantomConfig(size=256, column_fraction=(0.45, 0.5), fov_cut_share=0.0)
    shown = 0
    for seed in range(4):
        image = render_phantom(seed, config)
        names = [e["name"] for e in image.truth["extra_bodies"]]
        shown += "T12" in names
        assert "T12" not in image.truth["levels_present"]
    assert shown == 4
