"""Real BUU-LSPINE vertebral geometry turned into labeller inputs, with controlled corruption.

Shared by the postprocess tests and ``benchmarks/bench_labeller_accuracy.py``. Lumbar bodies
are the quadrilaterals of their two annotated endplates. S1 is drawn as it appears on a film
under the real S1 superior endplate: a body tilted with that endplate, its posterior wall
running caudally, its anterior surface bulging at the promontory and curving back, tapering
caudally; depth and taper vary per case (seeded by the case name, so runs are reproducible).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import shapely

from lumbarseg.levels import LEVELS
from lumbarseg.postprocess import Candidate
from tests.helpers.shared_data import SHARED_DATA

SHARED = SHARED_DATA
BUU_DIR = SHARED / "buu-lspine-sample"
BUU_DEV_DIR = SHARED / "buu-lspine-dev"


def buu_files(split: str = "sample") -> list[Path]:
    """Case CSVs of ``split``: "sample" (20), "dev" (40) or "all"."""
    dirs = {"sample": [BUU_DIR], "dev": [BUU_DEV_DIR], "all": [BUU_DIR, BUU_DEV_DIR]}[split]
    return [f for d in dirs if d.is_dir() for f in sorted(d.glob("*.csv"))]


@dataclass
class Body:
    level: str  # expected label
    # (K, 2): lumbar sup-ant, sup-post, inf-post, inf-ant; S1 starts sup-ant, sup-post
    corners: np.ndarray
    score: float = 1.0
    class_scores: np.ndarray | None = None
    is_vertebra: bool = True  # False for implants / junk (expected rejected)


@dataclass
class Case:
    name: str
    bodies: list[Body]
    size: tuple[int, int]  # (H, W)
    facing: str = "left"
    listhesis: dict = field(default_factory=dict)
    image: np.ndarray | None = None

    @property
    def truth(self) -> dict[int, str]:
        return {i: b.level for i, b in enumerate(self.bodies) if b.is_vertebra}


def case_rng(name: str, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()) + 7919 * salt)


def sacrum_outline(ant: np.ndarray, post: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """S1 under its superior endplate (ant, post): tilted with it, tapering caudally.

    The posterior wall runs caudally (leaning back or forward a little), the anterior surface
    leaves the promontory with a slight bulge and converges toward it, so the caudal edge is
    narrower. Outlines vary so that no cue is fitted to one shape: depth (height under the
    endplate), taper, lean, and in about a third of the cases a visible S2 part below, bent
    forward with the sacral kyphosis and narrower still (a mask that does not stop at S1).
    """
    d = post - ant
    length = float(np.linalg.norm(d))
    across = d / length  # anterior -> posterior
    down = np.array([-across[1], across[0]])
    if down[1] < 0:
        down = -down
    depth = rng.uniform(0.6, 1.1) * length
    taper = rng.uniform(0.5, 0.82)  # caudal width / endplate length
    lean = rng.uniform(-0.05, 0.18) * length
    bulge = rng.uniform(0.02, 0.06) * length
    with_s2 = rng.uniform() < 0.35
    p_bot = post + depth * down + lean * across
    a_bot = p_bot - taper * length * across
    a_mid = ant + 0.4 * (a_bot - ant) - bulge * across
    if not with_s2:
        return np.array([ant, post, post + 0.5 * (p_bot - post), p_bot, a_bot, a_mid])
    # S2 continues below, turned forward (toward anterior) by the sacral kyphosis
    turn = np.deg2rad(rng.uniform(8.0, 25.0))
    fwd = -across
    s2_down = np.cos(turn) * down + np.sin(turn) * fwd
    s2_len = rng.uniform(0.45, 0.7) * depth
    s2_width = rng.uniform(0.75, 0.9) * taper * length
    p2 = p_bot + s2_len * s2_down
    a2 = p2 + s2_width * fwd
    return np.array([ant, post, post + 0.5 * (p_bot - post), p_bot, p2, a2, a_bot, a_mid])


def load_case(path: Path) -> Case:
    rows = np.loadtxt(path, delimiter=",")
    ends = rows[:, :4].reshape(11, 2, 2)  # (x1,y1) is the image-left = anterior corner
    bodies = []
    for k, level in enumerate(LEVELS[:5]):
        sup, inf = ends[2 * k], ends[2 * k + 1]
        bodies.append(Body(level, np.array([sup[0], sup[1], inf[1], inf[0]])))
    ant, post = ends[10]
    bodies.append(Body("S1", sacrum_outline(ant, post, case_rng(path.stem))))
    pts = np.concatenate([b.corners for b in bodies])
    size = (int(pts[:, 1].max() + 250), int(pts[:, 0].max() + 250))
    return Case(path.stem, bodies, size)


def with_class_scores(case: Case, rng: np.random.Generator, sharp: float = 0.8) -> Case:
    """Noisy but mostly right L1..S1 scores for bodies that have none yet. A level detector has
    no thoracic or L6 class: it calls T11/T12 "L1" and an L6 "L5"; junk gets random scores."""
    as_class = {"T11": "L1", "T12": "L1", "L6": "L5"}
    for b in case.bodies:
        if b.class_scores is not None:
            continue
        level = as_class.get(b.level, b.level)
        if b.is_vertebra and level in LEVELS:
            p = rng.dirichlet(np.ones(6)) * (1 - sharp)
            p[LEVELS.index(level)] += sharp
            b.class_scores = p
        else:
            b.class_scores = rng.dirichlet(np.ones(6))
    return case


def transform(case: Case, angle_deg: float = 0.0, mirror: bool = False) -> Case:
    """Mirror (the patient then faces right) and/or rotate about the centre, canvas grown."""
    h, w = case.size
    pts = [b.corners.copy() for b in case.bodies]
    if mirror:
        pts = [np.column_stack([w - 1 - p[:, 0], p[:, 1]]) for p in pts]
        case.facing = "right" if case.facing == "left" else "left"
    if angle_deg:
        a = np.deg2rad(angle_deg)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        centre = np.array([w / 2, h / 2])
        pts = [(p - centre) @ rot.T for p in pts]
        allp = np.concatenate(pts)
        shift = -allp.min(axis=0) + 200
        pts = [p + shift for p in pts]
        allp = np.concatenate(pts)
        case.size = (int(allp[:, 1].max() + 200), int(allp[:, 0].max() + 200))
    for b, p in zip(case.bodies, pts, strict=False):
        b.corners = p
    return case


def _body(case: Case, level: str) -> Body:
    return next(b for b in case.bodies if b.level == level and b.is_vertebra)


def _axes(body: Body) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(caudal unit, anterior unit, height, width) of a body from its corners."""
    c = body.corners
    down = (c[3] + c[2]) / 2 - (c[0] + c[1]) / 2
    height = float(np.linalg.norm(down))
    ant = (c[0] + c[3]) / 2 - (c[1] + c[2]) / 2
    width = float(np.linalg.norm(ant))
    return down / height, ant / width, height, width


def drop(case: Case, level: str) -> Case:
    case.bodies = [b for b in case.bodies if b.level != level]
    return case


def add_implants(case: Case, rng: np.random.Generator) -> Case:
    """Pedicle screws into L4 and L5, a rod joining their heads, and an L4-L5 cage."""
    heads = []
    for level in ("L4", "L5"):
        b = _body(case, level)
        down, ant, hgt, wid = _axes(b)
        centre = b.corners.mean(axis=0)
        tip = centre + ant * 0.1 * wid
        head = centre - ant * 0.9 * wid
        heads.append(head)
        case.bodies.append(Body("screw", _bar(tip, head, 0.13 * hgt), 0.9, None, False))
    case.bodies.append(Body("rod", _bar(heads[0] - 0.6 * (heads[1] - heads[0]),
                                        heads[1] + 0.4 * (heads[1] - heads[0]), 0.08 * hgt),
                            0.7, None, False))
    up, low = _body(case, "L4"), _body(case, "L5")
    disc_mid = (up.corners[2] + up.corners[3] + low.corners[0] + low.corners[1]) / 4
    down, ant, hgt, wid = _axes(low)
    disc_h = float(np.linalg.norm((up.corners[2] + up.corners[3]) / 2
                                  - (low.corners[0] + low.corners[1]) / 2))
    half_w, half_h = 0.3 * wid, max(0.4 * disc_h, 0.12 * hgt)
    a, d = ant * half_w, down * half_h
    cage = np.array([disc_mid - a - d, disc_mid + a - d, disc_mid + a + d, disc_mid - a + d])
    case.bodies.append(Body("cage", cage, 0.8, None, False))
    return case


def _bar(a: np.ndarray, b: np.ndarray, thickness: float) -> np.ndarray:
    d = (b - a) / np.linalg.norm(b - a)
    n = np.array([-d[1], d[0]]) * thickness / 2
    return np.array([a + n, b + n, b - n, a - n])


def add_duplicates(case: Case) -> Case:
    """A slightly shifted second detection of L2 and a half-body detection of L4."""
    b = _body(case, "L2")
    down, ant, hgt, wid = _axes(b)
    case.bodies.append(Body("dup", b.corners + 0.04 * hgt * down, 0.6, None, False))
    b = _body(case, "L4")
    c = b.corners
    half = np.array([c[0], c[1], (c[1] + c[2]) / 2, (c[0] + c[3]) / 2])
    case.bodies.append(Body("dup", half, 0.5, None, False))
    return case


def level_scores(level: str) -> np.ndarray:
    """L1..S1 class scores of a detector sure of one level (0.9, the others 0.02)."""
    p = np.full(6, 0.02)
    p[LEVELS.index(level)] = 0.9
    return p


def wrong_scores(case: Case, level: str = "L3", says: str = "L5") -> Case:
    _body(case, level).class_scores = level_scores(says)
    return case


def six_lumbar(case: Case, where: str = "top") -> Case:
    """One more lumbar-type body: above L1 (a T12 as large as L1) or between L5 and S1 (L6)."""
    if where == "top":
        l1, l2 = _body(case, "L1"), _body(case, "L2")
        step = l1.corners.mean(0) - l2.corners.mean(0)
        scores = None if l1.class_scores is None else l1.class_scores.copy()
        case.bodies.insert(0, Body("T12", l1.corners + step, 1.0, scores))
        return case
    l4, l5, s1 = _body(case, "L4"), _body(case, "L5"), _body(case, "S1")
    step = l5.corners.mean(0) - l4.corners.mean(0)
    s1.corners = s1.corners + step
    scores = None if l5.class_scores is None else l5.class_scores.copy()
    case.bodies.insert(len(case.bodies) - 1, Body("L6", l5.corners + step, 1.0, scores))
    return case


def listhesis(case: Case, level: str = "L4", percent: float = 30.0) -> Case:
    """Slip ``level`` (and all above) to ``percent`` of the lower endplate and close the disc
    until the bodies overlap a little in projection."""
    upper = _body(case, level)
    lower = case.bodies[case.bodies.index(upper) + 1]
    base = lower.corners[0] - lower.corners[1]
    along = base / np.linalg.norm(base)
    normal = np.array([-along[1], along[0]])
    if np.dot(normal, _axes(lower)[0]) < 0:
        normal = -normal
    now = listhesis_truth(case, level)
    gap = float(np.dot((lower.corners[0] + lower.corners[1]) / 2
                       - (upper.corners[2] + upper.corners[3]) / 2, normal))
    shift = along * (percent - now) / 100 * np.linalg.norm(base)
    shift = shift + normal * (gap + 0.08 * _axes(upper)[2])
    for b in case.bodies[: case.bodies.index(upper) + 1]:
        b.corners = b.corners + shift
    case.listhesis = {level: percent}
    return case


def _rotate_about(pts: np.ndarray, centre: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return (pts - centre) @ np.array([[c, -s], [s, c]]).T + centre


def _tilt(body: Body) -> float:
    down = _axes(body)[0]
    return float(np.arctan2(down[1], down[0]))


def add_thoracic(case: Case, count: int = 1) -> Case:
    """T12 (and T11) above L1: a little smaller, continuing the column's curve upward."""
    for name in ("T12", "T11")[:count]:
        top, below = case.bodies[0], case.bodies[1]
        step = top.corners.mean(0) - below.corners.mean(0)
        turn = _tilt(top) - _tilt(below)
        centre = top.corners.mean(0)
        shape = (top.corners - centre) * 0.93
        shape = _rotate_about(shape, np.zeros(2), turn)
        new_centre = centre + 0.95 * _rotate_about(step, np.zeros(2), turn)
        scores = None if top.class_scores is None else top.class_scores.copy()
        case.bodies.insert(0, Body(name, shape + new_centre, 1.0, scores))
    case.size = _grown(case)
    return case


def _grown(case: Case, margin: float = 150.0) -> tuple[int, int]:
    """Shift everything to positive coordinates with a margin; the canvas that holds it."""
    pts = np.concatenate([b.corners for b in case.bodies])
    shift = np.maximum(margin - pts.min(axis=0), 0.0)
    for b in case.bodies:
        b.corners = b.corners + shift
    pts = pts + shift
    return max(case.size[0], int(pts[:, 1].max() + margin)), max(case.size[1],
                                                                   int(pts[:, 0].max() + margin))


def rescale(case: Case, factor: float) -> Case:
    for b in case.bodies:
        b.corners = b.corners * factor
    case.size = (int(case.size[0] * factor), int(case.size[1] * factor))
    return case


def fuse(case: Case, upper: str = "L4") -> Case:
    """Two bodies in one mask (a fused block): truth is the block's upper level."""
    up = _body(case, upper)
    low = case.bodies[case.bodies.index(up) + 1]
    up.corners = np.array([up.corners[0], up.corners[1], low.corners[2], low.corners[3]])
    case.bodies.remove(low)
    return case


def wedge(case: Case, level: str = "L1", keep: float = 0.5) -> Case:
    """A compression (wedge) fracture: the anterior height shrinks to ``keep``."""
    c = _body(case, level).corners
    c[0] = c[3] + keep * (c[0] - c[3])
    return case


def add_fragments(case: Case, rng: np.random.Generator) -> Case:
    """A piece of L3 detected on its own (inside the body) and a small bony fragment beside
    the column (an osteophyte), both low-scored."""
    b = _body(case, "L3")
    c = b.corners
    piece = np.array([c[0], 0.6 * c[0] + 0.4 * c[1], 0.6 * c[3] + 0.4 * c[2], c[3]])
    case.bodies.append(Body("fragment", piece, 0.45, None, False))
    down, ant, hgt, wid = _axes(_body(case, "L2"))
    centre = (c[0] + c[3]) / 2 + ant * 0.35 * wid
    small = centre + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.16 * hgt
    case.bodies.append(Body("fragment", small, 0.4, None, False))
    return case


def detector_masks(case: Case, rng: np.random.Generator, grow: tuple[float, float] = (-0.05, 0.05),
                   noise: float = 0.02) -> Case:
    """Outlines as a mask head draws them: rounded corners, each body eroded or dilated by up
    to ``grow`` x its height, and a smooth wobble of ``noise`` x height along the outline."""
    for b in case.bodies:
        poly = shapely.Polygon(b.corners)
        size = float(np.sqrt(max(poly.area, 1.0)))
        rounded = poly.buffer(-0.12 * size).buffer(0.12 * size)
        out = rounded.buffer(float(rng.uniform(*grow)) * size)
        if out.is_empty or out.geom_type != "Polygon":
            continue
        ring = np.asarray(out.exterior.coords)[:-1]
        ring = _resample(ring, 48)
        centre = ring.mean(axis=0)
        radial = ring - centre
        radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
        k = np.arange(len(ring))
        wobble = sum(rng.normal(0, 1) * np.cos(2 * np.pi * f * k / len(ring) + rng.uniform(0, 6))
                     for f in (2, 3, 5)) / np.sqrt(3)
        b.corners = ring + radial * (noise * size * wobble)[:, None]
    return case


def _resample(ring: np.ndarray, count: int) -> np.ndarray:
    closed = np.vstack([ring, ring[:1]])
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    t = np.linspace(0, cum[-1], count, endpoint=False)
    return np.column_stack([np.interp(t, cum, closed[:, 0]), np.interp(t, cum, closed[:, 1])])


def shuffled(case: Case, rng: np.random.Generator) -> Case:
    order = rng.permutation(len(case.bodies))
    case.bodies = [case.bodies[i] for i in order]
    return case


def masks_of(case: Case) -> list[np.ndarray]:
    h, w = case.size
    out = []
    for b in case.bodies:
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [np.round(b.corners).astype(np.int32)], 1)
        out.append(m.astype(bool))
    return out


def flat_film(case: Case) -> tuple[np.ndarray, list[np.ndarray]]:
    """(image, masks): bodies at 0.6 on a 0.3 background, the film the metal tests read."""
    h, w = case.size
    image = np.full((h, w), 0.3, np.float32)
    masks = masks_of(case)
    for m in masks:
        image[m] = 0.6
    return image, masks


def cage_below(mask: np.ndarray) -> np.ndarray:
    """A body-sized block (not elongated) in the disc space under ``mask``'s body."""
    ys, xs = np.nonzero(mask)
    cage = np.zeros_like(mask)
    cy, cx, half = int(ys.max()), int(xs.mean()), int((xs.max() - xs.min()) * 0.35)
    cage[cy - half:cy + half, cx - half:cx + half] = True
    return cage


def candidates(case: Case, use_masks: bool = False) -> list[Candidate]:
    masks = masks_of(case) if use_masks else [None] * len(case.bodies)
    return [Candidate(mask=m, polygon=None if use_masks else b.corners.copy(), score=b.score,
                      class_scores=b.class_scores)
            for b, m in zip(case.bodies, masks, strict=True)]


def accuracy(case: Case, result) -> tuple[int, int, bool]:
    """(correct, total, image all right): every true vertebra labelled right, junk not labelled."""
    got = result.levels
    truth = case.truth
    correct = sum(got.get(i) == lv for i, lv in truth.items())
    junk_kept = any(i in got for i, b in enumerate(case.bodies) if not b.is_vertebra)
    return correct, len(truth), correct == len(truth) and not junk_kept


def lordosis_truth(case: Case) -> float:
    """L1 superior to S1 superior endplate angle from the corners (positive = lordosis)."""
    sign = 1 if case.facing == "left" else -1

    def angle(ant, post):
        d = ant - post
        return np.degrees(np.arctan2(-d[1], -sign * d[0]))

    l1 = next(b for b in case.bodies if b.level == "L1").corners
    s1 = next(b for b in case.bodies if b.level == "S1").corners
    return float(angle(l1[0], l1[1]) - angle(s1[0], s1[1]))


def listhesis_truth(case: Case, level: str) -> float:
    """Slip of ``level`` on the body below from the corners, % of the lower superior endplate."""
    upper = _body(case, level)
    lower = case.bodies[case.bodies.index(upper) + 1]
    base = lower.corners[0] - lower.corners[1]  # posterior -> anterior
    shift = upper.corners[2] - lower.corners[1]  # inferior-posterior vs superior-posterior
    return float(100.0 * np.dot(shift, base) / np.dot(base, base))


def _rotated(c: Case, r: np.random.Generator) -> Case:
    return transform(c, float(r.uniform(8, 20) * r.choice([-1, 1])))


def _wrong_two(c: Case, r: np.random.Generator) -> Case:
    return wrong_scores(wrong_scores(c, "L2", "L4"), "L4", "S1")


# The controlled corruptions the tests assert on (and the report script prints).
CORRUPTIONS = {
    "shuffled": lambda c, r: shuffled(c, r),
    "rotated+15": lambda c, r: transform(c, 15),
    "rotated-15": lambda c, r: transform(c, -15),
    "mirrored": lambda c, r: transform(c, mirror=True),
    "missing_L1": lambda c, r: drop(c, "L1"),
    "missing_S1": lambda c, r: drop(c, "S1"),
    "missing_L3": lambda c, r: drop(c, "L3"),
    "implants": lambda c, r: add_implants(c, r),
    "duplicates": lambda c, r: add_duplicates(c),
    "listhesis": lambda c, r: listhesis(c),
    "everything": lambda c, r: shuffled(transform(
        add_duplicates(add_implants(c, r)), float(r.uniform(-15, 15)), True), r),
}

# The full suite (tests use a subset of cases; the benchmark runs every case): name ->
# corruption. Class scores, where the mode has them, are drawn after the corruption.
SCENARIOS = {
    "clean": lambda c, r: c,
    "mirrored": lambda c, r: transform(c, mirror=True),
    "rotated 8-20 deg": _rotated,
    "rescaled x0.4-2": lambda c, r: rescale(c, float(np.exp(r.uniform(np.log(0.4), np.log(2))))),
    "missing top (L1)": lambda c, r: drop(c, "L1"),
    "missing middle (L3)": lambda c, r: drop(c, "L3"),
    "missing L5": lambda c, r: drop(c, "L5"),
    "missing sacrum": lambda c, r: drop(c, "S1"),
    "T12 above L1": lambda c, r: add_thoracic(c, 1),
    "T11+T12 above L1": lambda c, r: add_thoracic(c, 2),
    "sixth lumbar (L6)": lambda c, r: six_lumbar(c, "L6"),
    "implants": lambda c, r: add_implants(c, r),
    "fused L4-L5 block": lambda c, r: fuse(c, "L4"),
    "duplicates": lambda c, r: add_duplicates(c),
    "fragments": lambda c, r: add_fragments(c, r),
    "one wrong class": lambda c, r: wrong_scores(c, "L3", "L5"),
    "two wrong classes": _wrong_two,
    "masks eroded": lambda c, r: detector_masks(c, r, (-0.07, -0.03), 0.01),
    "masks dilated": lambda c, r: detector_masks(c, r, (0.03, 0.07), 0.01),
    "masks jittered": lambda c, r: detector_masks(c, r),
    "listhesis L4 30%": lambda c, r: listhesis(c, "L4", 30.0),
    "wedged L1": lambda c, r: wedge(c, "L1", 0.5),
    "combo: mirror, rotate, implants, dups, jitter": lambda c, r: detector_masks(shuffled(
        transform(add_duplicates(add_implants(c, r)), float(r.uniform(-20, 20)), True), r), r),
    "combo: T12, missing L1, rotate": lambda c, r: _rotated(drop(add_thoracic(c, 1), "L1"), r),
    "combo: listhesis, wedge, fragments, jitter": lambda c, r: detector_masks(
        add_fragments(wedge(listhesis(c, "L4", 25.0), "L2", 0.6), r), r),
}
SCORES_ONLY = ("one wrong class", "two wrong classes")  # identical to clean without scores


def scenario_case(path: Path, scenario: str, with_scores: bool) -> Case:
    """The case of ``path`` under ``scenario``, reproducibly (seeded by case and scenario)."""
    rng = case_rng(path.stem, 1 + list(SCENARIOS).index(scenario))
    case = SCENARIOS[scenario](load_case(path), rng)
    if with_scores:
        with_class_scores(case, rng)
    return case


def judge(case: Case, result) -> dict:
    """One image's outcome: levels right/total, image right, flagged (low confidence), silent
    error: wrong with neither ``low_confidence`` nor ``transitional_suspected``, the two flags
    that tell a reader the count may be off."""
    right, total, ok = accuracy(case, result)
    flagged = bool(result.flags["low_confidence"])
    warned = flagged or bool(result.flags["transitional_suspected"])
    return {"right": right, "total": total, "ok": ok, "flagged": flagged,
            "silent": not ok and not warned}
