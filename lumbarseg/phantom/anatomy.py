"""Spine and surroundings in the patient frame (mm; x anterior, y superior), from the draws.

The spine is built from the sacrum upwards: S1's superior endplate is tilted by the sacral
slope, then each disc and body is a wedge stacked on the endplate below, aligned on the
posterior wall (a listhesis shifts everything above the slipping level forward). Discs and
disc-space implants are not separate instances; only bodies are labelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lumbarseg.phantom import disease
from lumbarseg.phantom.params import PhantomParams
from lumbarseg.phantom.shapes import (
    band,
    chaikin,
    ellipse,
    perp,
    quad,
    rotate,
    rounded_body,
    unit,
)


@dataclass
class Shape:
    """One drawable: a polygon with a fill attenuation and an optional denser rim."""

    poly: np.ndarray
    mu: float
    layer: str = "bone"  # bone | metal | gas | soft
    rim: float = 0.0
    rim_mm: float = 0.0
    open_line: bool = False  # draw only the rim, as an open polyline


@dataclass
class Body:
    name: str
    # superior-anterior, superior-posterior, inferior-posterior, inferior-anterior
    corners: np.ndarray
    outline: np.ndarray
    kind: str = "lumbar"  # lumbar | thoracic | sacrum

    @property
    def u_sup(self) -> np.ndarray:
        return unit(self.corners[0] - self.corners[1])

    @property
    def u_inf(self) -> np.ndarray:
        return unit(self.corners[3] - self.corners[2])


@dataclass
class Anatomy:
    bodies: dict[str, Body]
    shapes: list[Shape] = field(default_factory=list)
    envelope: np.ndarray | None = None
    sacrum_tail: list[np.ndarray] = field(default_factory=list)
    osteophytes: list[dict] = field(default_factory=list)


def build_anatomy(params: PhantomParams, rng: np.random.Generator) -> Anatomy:
    bodies = _build_spine(params)
    anatomy = Anatomy(bodies=bodies)
    anatomy.osteophytes = disease.add_osteophytes(params, bodies)
    _add_body_shapes(params, anatomy)
    _add_posterior_elements(params, anatomy)
    _add_sacrum_tail(params, anatomy)
    _add_ribs(params, anatomy, rng)
    _add_pelvis(params, anatomy)
    _add_soft_tissue(params, anatomy, rng)
    return anatomy


def _build_spine(params: PhantomParams) -> dict[str, Body]:
    sac = params.sacrum
    slope = np.deg2rad(params.sacral_slope_deg)
    u = np.array([np.cos(-slope), np.sin(-slope)])
    n = perp(u)
    sp = np.zeros(2)
    sa = sp + sac["depth"] * u
    ip = sp - sac["s1_height_post"] * n - 2.0 * u
    ia = sa - sac["s1_height_ant"] * n - 4.0 * u
    corners = np.array([sa, sp, ip, ia])
    s1 = Body("S1", corners, rounded_body(corners, (1.2, 0.3, 0.0, 0.8), 2.5), kind="sacrum")
    bodies = {"S1": s1}

    post, u_low, length = sp, u, float(sac["depth"])
    for name in params.stack:
        disc = params.discs[name]
        height = disc["height"] * (1.0 - params.disc_loss.get(name, 0.0))
        slip = params.listhesis.get(name)
        if slip is not None:
            height = -1.5 - 2.5 * slip["disc_factor"] if slip["overlap"] else (
                height * slip["disc_factor"])
        diff = length * np.tan(np.deg2rad(disc["wedge_deg"]))
        h_post, h_ant = height - diff / 2, height + diff / 2
        if slip is None or not slip["overlap"]:
            floor = 1.0 if slip is None else 0.6
            if h_post < floor:
                h_post, h_ant = floor, floor + diff
            if h_ant < floor:
                h_post, h_ant = floor - diff, floor
        n_low = perp(u_low)
        shift = (slip["percent"] / 100.0 * length) if slip is not None else 0.0
        p_up = post + h_post * n_low + shift * u_low
        a_up = post + length * u_low + h_ant * n_low + shift * u_low
        u_up = unit(a_up - p_up)

        body = params.bodies[name]
        depth = body["depth"]
        tilt = depth * np.tan(np.deg2rad(body["wedge_deg"]))
        b_post, b_ant = body["height"] - tilt / 2, body["height"] + tilt / 2
        loss = params.fractures.get(name)
        if loss is not None:
            b_ant = max(b_ant * (1.0 - loss), 6.0)
        n_up = perp(u_up)
        ip = p_up
        ia = p_up + depth * u_up
        sp = ip + b_post * n_up
        sa = ia + b_ant * n_up
        corners = np.array([sa, sp, ip, ia])
        sag_sup = body["concavity_sup"] + (1.5 if loss is not None else 0.0)
        sag = (sag_sup, 0.4 * body["waist"], body["concavity_inf"], body["waist"])
        kind = "thoracic" if name.startswith("T") else "lumbar"
        bodies[name] = Body(name, corners, rounded_body(corners, sag, body["radius"]), kind)
        post, u_low, length = sp, unit(sa - sp), float(np.linalg.norm(sa - sp))
    return bodies


def _add_body_shapes(params: PhantomParams, anatomy: Anatomy) -> None:
    for body in anatomy.bodies.values():
        anatomy.shapes.append(Shape(body.outline, 1.0, rim=0.55, rim_mm=1.6))
    disc = params.discs.get("L5", {})
    if disc.get("bridge"):
        # Sacralised L5: a bony bar across the posterior part of the rudimentary disc.
        l5, s1 = anatomy.bodies["L5"].corners, anatomy.bodies["S1"].corners
        bar = np.array([l5[2], l5[2] + 0.45 * (l5[3] - l5[2]),
                        s1[1] + 0.45 * (s1[0] - s1[1]), s1[1]])
        anatomy.shapes.append(Shape(bar, 0.8, rim=0.2, rim_mm=0.8))


def _local_frame(body: Body) -> tuple[np.ndarray, np.ndarray, float]:
    u = unit(body.u_sup + body.u_inf)
    height = float(np.linalg.norm(body.corners[1] - body.corners[2]))
    return body.corners[1], u, height


def _add_posterior_elements(params: PhantomParams, anatomy: Anatomy) -> None:
    for name in params.stack:
        body = anatomy.bodies[name]
        origin, u, h = _local_frame(body)
        draw = params.bodies[name]
        pl, sl = draw["pedicle_len"], draw["spinous_len"]
        thoracic = name.startswith("T")
        pedicle = [(1.5, -0.12 * h), (-pl, -0.08 * h), (-pl, -0.55 * h), (1.5, -0.5 * h)]
        pillar = [(-pl + 1, -0.05 * h), (-pl - 2, 0.34 * h), (-pl - 8, 0.3 * h),
                  (-pl - 13, -0.2 * h), (-pl - 12, -0.95 * h), (-pl - 8, -1.28 * h),
                  (-pl - 2, -1.0 * h), (-pl + 1, -0.6 * h)]
        drop = 0.45 * h if thoracic else 0.15 * h
        spinous = [(-pl - 9, -0.18 * h), (-pl - 10 - sl, -0.38 * h - drop),
                   (-pl - 12 - sl, -0.8 * h - drop), (-pl - 9, -0.85 * h)]
        anatomy.shapes.append(Shape(quad(origin, u, pedicle), 0.32, rim=0.25, rim_mm=1.4))
        anatomy.shapes.append(Shape(quad(origin, u, pillar), 0.4, rim=0.12, rim_mm=1.0))
        anatomy.shapes.append(Shape(quad(origin, u, spinous), 0.3, rim=0.12, rim_mm=1.2))


def _add_sacrum_tail(params: PhantomParams, anatomy: Anatomy) -> None:
    s1 = anatomy.bodies["S1"].corners
    post, ant = s1[2], s1[3]
    heights = (21.0, 17.0, 13.0, 10.0, 8.0, 7.0, 6.0)
    kyph = params.sacrum["kyphosis_deg"]
    posterior_edge = [s1[1], post]
    for i, h in enumerate(heights):
        e = unit(ant - post)
        e = rotate(e[None], kyph * (0.8 if i < 4 else 1.3))[0]
        d = -perp(e)
        depth = np.linalg.norm(ant - post) * (0.84 if i < 4 else 0.75)
        new_post = post + h * d
        new_ant = new_post + depth * e
        seg = np.array([ant, post, new_post, new_ant])
        coccyx = i >= 4
        outline = rounded_body(seg, (0.6, 0.3, 0.6, 0.8), 1.5 if not coccyx else 2.5, 6)
        anatomy.shapes.append(Shape(outline, 0.85 if not coccyx else 0.6,
                                    rim=0.35 if not coccyx else 0.25, rim_mm=1.3))
        anatomy.sacrum_tail.append(outline)
        if coccyx:
            gap = 1.5 * d
            new_post, new_ant = new_post + gap, new_ant + gap
        posterior_edge.append(new_post)
        post, ant = new_post, new_ant
        if i + 1 >= params.sacrum["tail_segments"]:
            break
    # Dorsal sacrum (canal roof and median crest), a faint band behind the bodies.
    edge = np.array(posterior_edge[: min(len(posterior_edge), 6)])
    normal = np.array([-1.0, 0.0])
    offset = np.array([rotate(normal[None], params.sacral_slope_deg * 0.3)[0]] * len(edge))
    crest = edge + offset * 13.0
    anatomy.shapes.append(Shape(band(chaikin(crest, 2), np.linspace(12, 5, len(chaikin(crest, 2)))),
                                0.3, rim=0.2, rim_mm=1.0))


def _add_ribs(params: PhantomParams, anatomy: Anatomy, rng: np.random.Generator) -> None:
    names = [n for n in ("T12", "T11", "T10", "T9") if n in anatomy.bodies]
    for k in range(params.soft["ribs"]):
        body = anatomy.bodies[names[k % len(names)]]
        origin, u, h = _local_frame(body)
        pl = params.bodies[body.name]["pedicle_len"]
        start = quad(origin, u, [(-pl - 6, -0.2 * h)])[0]
        jitter = rng.normal(0, 4.0, size=(5, 2))
        path = np.array([(0, 0), (-22, -10), (-30, -42), (-12, -82), (22, -112)]) + jitter
        path = path * (0.7 + 0.06 * k)
        centre = chaikin(start + path + (0, 8.0 * (k // 2)), 3)
        width = np.linspace(8.0, 11.0, len(centre))
        mu = params.soft.get("rib_mu", 0.12)
        anatomy.shapes.append(Shape(band(centre, width), mu, rim=0.15, rim_mm=1.3))


def _add_pelvis(params: PhantomParams, anatomy: Anatomy) -> None:
    s1 = anatomy.bodies["S1"].corners
    centre = s1.mean(axis=0)
    soft = params.soft
    for side, off in enumerate(soft["hip_offset"]):
        shift = np.array([soft["pelvis_dx"] + off * (1 if side else -1), soft["pelvis_dy"] + off])
        wing_c = centre + np.array([22.0, 8.0]) + shift
        t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        wobble = 0.08 * np.sin(3 * t + off) + 0.05 * np.sin(5 * t + 2 * off)
        wing = ellipse(wing_c, (72.0, 50.0), angle=-18.0, n=60, wobble=wobble)
        anatomy.shapes.append(Shape(wing, 0.1, rim=0.06, rim_mm=2.0))
        t = np.linspace(np.deg2rad(35), np.deg2rad(165), 30)
        crest = np.stack([72.0 * np.cos(t), 50.0 * np.sin(t)], axis=1)
        crest = rotate(crest, -18.0) + wing_c
        anatomy.shapes.append(Shape(band(crest, 6.0), 0.15, rim=0.12, rim_mm=1.2))
        head_c = centre + np.array([45.0, -98.0]) + shift * 1.3
        anatomy.shapes.append(Shape(ellipse(head_c, (24.0, 24.0)), 0.55, rim=0.35, rim_mm=2.0))
        neck = np.array([head_c, head_c + (28.0, -22.0), head_c + (42.0, -48.0)])
        anatomy.shapes.append(Shape(band(chaikin(neck, 2), 26.0), 0.45, rim=0.25, rim_mm=2.0))
        roof = ellipse(head_c, (30.0, 30.0), n=40)[2:18]
        anatomy.shapes.append(Shape(band(roof, 5.0), 0.35))


def _add_soft_tissue(params: PhantomParams, anatomy: Anatomy, rng: np.random.Generator) -> None:
    soft = params.soft
    names = ["S1", *params.stack]
    back, front = [], []
    for name in reversed(names):
        body = anatomy.bodies[name]
        origin, u, h = _local_frame(body)
        mid = origin - 0.5 * h * perp(u)
        back.append(mid - soft["back_mm"] * u)
        front.append(mid + (params.bodies.get(name, {}).get("depth", 40.0) + soft["belly_mm"]) * u)
    top_dir = unit(back[0] - back[1])
    tail = anatomy.sacrum_tail[-1].mean(axis=0)
    buttock = tail - (soft["back_mm"] * 0.6 + soft["buttock_mm"]) * np.array([1.0, 0.0])
    back_line = [back[0] + 400 * top_dir, *back, buttock, buttock + (30.0, -400.0)]
    front_line = [front[0] + 400 * top_dir, *front, front[-1] + (20.0, -120.0),
                  front[-1] + (0.0, -400.0)]
    anatomy.envelope = np.concatenate([chaikin(np.array(back_line), 2),
                                       chaikin(np.array(front_line), 2)[::-1]])
    # Bowel gas, in front of and partly over the spine.
    l1, s1 = anatomy.bodies["L1"].corners, anatomy.bodies["S1"].corners
    y_lo, y_hi = s1[:, 1].min() - 30.0, l1[:, 1].max() + 20.0
    x_ant = max(l1[:, 0].max(), s1[:, 0].max())
    for _ in range(soft["bowel_gas"]):
        c = np.array([rng.uniform(x_ant - 30.0, x_ant + 0.7 * soft["belly_mm"]),
                      rng.uniform(y_lo, y_hi)])
        if rng.random() < 0.5:
            axes = rng.uniform(6.0, 22.0, size=2)
            poly = ellipse(c, axes, float(rng.uniform(0, 180)), 32,
                           wobble=0.15 * np.sin(np.linspace(0, 6 * np.pi, 32) + rng.uniform(0, 6)))
        else:
            path = c + np.cumsum(rng.normal(0, 12.0, size=(5, 2)), axis=0)
            poly = band(chaikin(path, 2), float(rng.uniform(8.0, 18.0)))
        anatomy.shapes.append(Shape(poly, -float(rng.uniform(0.12, 0.4)), layer="gas"))
