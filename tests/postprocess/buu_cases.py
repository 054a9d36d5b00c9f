"""Real BUU-LSPINE vertebral geometry turned into labeller inputs, with controlled corruption.

Shared by the postprocess tests and ``evaluate_buu.py``. Bodies are the quadrilaterals of
their two annotated endplates; S1 is its superior endplate plus a depth of 0.6 x its length
drawn inferiorly (perpendicular), as the held-out checks build it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from lumbarseg.levels import LEVELS
from lumbarseg.postprocess import Candidate

BUU_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "buu-lspine-sample"
S1_DEPTH = 0.6


def buu_files() -> list[Path]:
    return sorted(BUU_DIR.glob("*.csv")) if BUU_DIR.is_dir() else []


@dataclass
class Body:
    level: str  # expected label
    corners: np.ndarray  # (4, 2): sup-ant, sup-post, inf-post, inf-ant
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


def load_case(path: Path) -> Case:
    rows = np.loadtxt(path, delimiter=",")
    ends = rows[:, :4].reshape(11, 2, 2)  # (x1,y1) is the image-left = anterior corner
    bodies = []
    for k, level in enumerate(LEVELS[:5]):
        sup, inf = ends[2 * k], ends[2 * k + 1]
        bodies.append(Body(level, np.array([sup[0], sup[1], inf[1], inf[0]])))
    ant, post = ends[10]
    d = post - ant
    normal = np.array([-d[1], d[0]]) / np.linalg.norm(d)
    if normal[1] < 0:
        normal = -normal
    depth = S1_DEPTH * np.linalg.norm(d) * normal
    bodies.append(Body("S1", np.array([ant, post, post + depth, ant + depth])))
    pts = np.concatenate([b.corners for b in bodies])
    size = (int(pts[:, 1].max() + 250), int(pts[:, 0].max() + 250))
    return Case(path.stem, bodies, size)


def with_class_scores(case: Case, rng: np.random.Generator, sharp: float = 0.8) -> Case:
    for b in case.bodies:
        if b.level in LEVELS:
            p = rng.dirichlet(np.ones(6)) * (1 - sharp)
            p[LEVELS.index(b.level)] += sharp
            b.class_scores = p
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


def wrong_scores(case: Case, level: str = "L3", says: str = "L5") -> Case:
    b = _body(case, level)
    p = np.full(6, 0.02)
    p[LEVELS.index(says)] = 0.9
    b.class_scores = p
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


def candidates(case: Case, use_masks: bool = False) -> list[Candidate]:
    masks = masks_of(case) if use_masks else [None] * len(case.bodies)
    return [Candidate(mask=m, polygon=None if use_masks else b.corners.copy(), score=b.score,
                      class_scores=b.class_scores)
            for b, m in zip(case.bodies, masks, strict=True)]


def accuracy(case: Case, result) -> tuple[int, int, bool]:
    """(correct, total, image all right): every true vertebra labelled right, junk rejected."""
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
