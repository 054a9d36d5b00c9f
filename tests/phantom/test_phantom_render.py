"""In-memory phantoms: overlaps only at listhesis, clipping, transitional labelling."""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon
from shapely.ops import unary_union

from lumbarseg.levels import LEVELS
from lumbarseg.phantom import PhantomConfig, render_phantom


def _shape(inst) -> Polygon:
    return unary_union([Polygon(np.reshape(p, (-1, 2))) for p in inst["polygons"]])


def test_masks_overlap_only_where_listhesis_says_so():
    config = PhantomConfig(size=256, difficulty="hard", listhesis_share=1.0, fov_cut_share=0.0)
    overlaps_seen = 0
    for seed in range(12):
        image = render_phantom(seed, config)
        truth = image.truth
        shapes = {inst["level"]: _shape(inst) for inst in image.instances}
        allowed = {(lvl, s["on"]) for lvl, s in truth["listhesis"].items() if s["overlap"]}
        for i, a in enumerate(LEVELS):
            for b in LEVELS[i + 1:]:
                if a in shapes and b in shapes:
                    area = shapes[a].intersection(shapes[b]).area
                    if (a, b) in allowed:
                        overlaps_seen += 1
                        assert area > 0.5
                    else:
                        assert area < 0.5, (seed, a, b, area)
        # Rasterised masks: elsewhere at most boundary pixels across a disc thinner than ~2 px.
        masks = image.masks()
        for i, a in enumerate(LEVELS[:-1]):
            b = LEVELS[i + 1]
            if a in masks and b in masks:
                shared = int((masks[a] & masks[b]).sum())
                smaller = min(masks[a].sum(), masks[b].sum())
                if (a, b) in allowed:
                    assert shared > 0
                else:
                    assert shared <= 0.01 * smaller, (seed, a, b, shared)
    assert overlaps_seen >= 2


def test_field_of_view_cuts_clip_and_drop_instances():
    config = PhantomConfig(size=200, fov_cut_share=1.0)
    dropped = 0
    for seed in range(8):
        image = render_phantom(seed, config)
        h, w = image.pixels.shape
        truth = image.truth
        assert truth["fov_cut"] == {"top": True, "bottom": True}
        for inst in image.instances:
            pts = np.concatenate([np.reshape(p, (-1, 2)) for p in inst["polygons"]])
            assert pts.min() >= -1e-6 and pts[:, 0].max() <= w + 1e-6
            assert pts[:, 1].max() <= h + 1e-6
        present = [inst["level"] for inst in image.instances]
        assert truth["levels_present"] == present
        assert set(truth["dropped_levels"]).isdisjoint(present)
        assert all(v < 0.3 for v in truth["dropped_levels"].values())
        dropped += len(truth["dropped_levels"])
        assert truth["clipped_levels"] or truth["dropped_levels"]
    assert dropped >= 1


def test_transitional_anatomy_is_counted_from_the_sacrum():
    config = PhantomConfig(size=200, transitional_share=1.0, fov_cut_share=0.0)
    kinds = set()
    for seed in range(10):
        image = render_phantom(seed, config)
        kind = image.truth["transitional"]
        kinds.add(kind)
        levels = [inst["level"] for inst in image.instances]
        assert levels == sorted(set(levels), key=LEVELS.index)
        extras = [b["name"] for b in image.truth["extra_bodies"]]
        if kind == "lumbarised_S1":
            assert "extra_lumbar" in extras
            extra = next(b for b in image.truth["extra_bodies"] if b["name"] == "extra_lumbar")
            centre = {i["level"]: np.mean(i["corners"], axis=0) for i in image.instances}
            # The extra body is further from the sacrum than L1 (above it, along the spine).
            to_s1 = np.linalg.norm(np.mean(extra["corners"], axis=0) - centre["S1"])
            assert to_s1 > np.linalg.norm(centre["L1"] - centre["S1"]) + 10
        else:
            assert "extra_lumbar" not in extras
    assert kinds == {"lumbarised_S1", "sacralised_L5"}


def test_pixels_look_like_a_radiograph():
    """Bone brighter than soft tissue, metal saturated, values in [0, 1]."""
    image = render_phantom(5, PhantomConfig(size=256, postop_share=1.0, fov_cut_share=0.0))
    px = image.pixels
    assert px.dtype == np.float32 and px.min() >= 0 and px.max() <= 1
    masks = image.masks()
    bone = np.mean([px[m].mean() for m in masks.values()])
    union = np.any(list(masks.values()), axis=0)
    assert bone > np.median(px[~union]) + 0.05
    assert image.truth["implants"]
    implant = image.truth["implants"][0]["polygon"]
    metal = Polygon(np.reshape(implant, (-1, 2))).representative_point()
    assert px[int(metal.y), int(metal.x)] > 0.95


def test_same_seed_same_pixels_and_truth():
    a, b = render_phantom(42), render_phantom(np.random.default_rng(42))
    assert np.array_equal(a.pixels, b.pixels)
    assert a.truth == b.truth
    assert render_phantom(43).truth != a.truth
