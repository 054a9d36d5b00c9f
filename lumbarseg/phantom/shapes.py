"""Small 2-D shape helpers in millimetres: rounded concave bodies, bands, threads, frames.

Coordinates here are the patient frame: x points anterior, y points superior (mm).
"""

from __future__ import annotations

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def perp(u: np.ndarray) -> np.ndarray:
    """``u`` rotated +90 degrees (anterior -> superior in the patient frame)."""
    return np.array([-u[1], u[0]])


def rotate(points: np.ndarray, degrees: float, centre=(0.0, 0.0)) -> np.ndarray:
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.asarray(centre, dtype=float)
    return (np.asarray(points, dtype=float) - c) @ rot.T + c


def angle_deg(v: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(v[1], v[0])))


def rounded_body(corners: np.ndarray, sag: tuple[float, float, float, float],
                 radius: float, per_side: int = 10) -> np.ndarray:
    """Outline of a vertebral body from 4 corners with concave sides and rounded corners.

    ``corners`` are (superior-anterior, superior-posterior, inferior-posterior,
    inferior-anterior); ``sag`` is the inward bow (mm) of the superior endplate, posterior
    wall, inferior endplate and anterior wall, so endplates are concave like real ones.
    """
    corners = np.asarray(corners, dtype=float)
    centre = corners.mean(axis=0)
    sides = []
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        length = float(np.linalg.norm(b - a))
        r = min(radius, 0.3 * length)
        t = np.linspace(r / length, 1 - r / length, per_side)
        normal = perp(unit(b - a))
        if np.dot(normal, centre - (a + b) / 2) < 0:
            normal = -normal
        pts = a + np.outer(t, b - a) + np.outer(sag[i] * 4 * t * (1 - t), normal)
        sides.append(pts)
    out = []
    for i in range(4):
        out.append(sides[i])
        end, start = sides[i][-1], sides[(i + 1) % 4][0]
        ctrl = corners[(i + 1) % 4]
        s = np.linspace(0.25, 0.75, 3)[:, None]
        out.append((1 - s) ** 2 * end + 2 * (1 - s) * s * ctrl + s**2 * start)
    return np.concatenate(out)


def quad(origin: np.ndarray, u: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Map local (along-u, along-perp(u)) coordinates to the patient frame."""
    local = np.asarray(local, dtype=float)
    return origin + np.outer(local[:, 0], u) + np.outer(local[:, 1], perp(u))


def band(centerline: np.ndarray, width: float | np.ndarray) -> np.ndarray:
    """Closed polygon of a band of (possibly varying) width around an open polyline."""
    c = np.asarray(centerline, dtype=float)
    tangent = np.gradient(c, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    half = np.broadcast_to(np.asarray(width, dtype=float) / 2, (len(c),))[:, None]
    return np.concatenate([c + normal * half, (c - normal * half)[::-1]])


def ellipse(centre, axes, angle: float = 0.0, n: int = 48, wobble=None) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1.0 if wobble is None else 1.0 + wobble
    pts = np.stack([axes[0] * np.cos(t) * r, axes[1] * np.sin(t) * r], axis=1)
    return rotate(pts, angle) + np.asarray(centre, dtype=float)


def threaded_shank(entry: np.ndarray, tip: np.ndarray, diameter: float,
                   pitch: float = 2.6) -> np.ndarray:
    """Screw shank outline with a saw-tooth thread and a pointed tip."""
    axis = tip - entry
    length = float(np.linalg.norm(axis))
    u = axis / length
    n = perp(u)
    steps = max(int(length / (pitch / 2)), 4)
    t = np.linspace(0.0, length - diameter * 0.6, steps)
    teeth = np.where(np.arange(steps) % 2 == 0, diameter / 2, diameter / 2 - 0.9)
    upper = entry + np.outer(t, u) + np.outer(teeth, n)
    lower = entry + np.outer(t, u) - np.outer(teeth, n)
    return np.concatenate([upper, [tip], lower[::-1]])


def chaikin(points: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Smooth an open polyline (keeps its end points)."""
    pts = np.asarray(points, dtype=float)
    for _ in range(iterations):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        inner = np.empty((2 * len(q), 2))
        inner[0::2], inner[1::2] = q, r
        pts = np.concatenate([pts[:1], inner, pts[-1:]])
    return pts
