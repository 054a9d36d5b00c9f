"""Random draws of one phantom: anatomy, disease, implants, pose, field of view, imaging, DICOM.

Everything random about an image is drawn here, up front, into plain dictionaries; the
geometry and the renderer are deterministic functions of these draws. Patient-level traits
(size, transitional anatomy) are drawn once per fake patient so that all images of a patient
agree on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lumbarseg.phantom.config import PhantomConfig
from lumbarseg.phantom.styles import sample_imaging

# Bodies above the sacrum, bottom to top, named by counting from the sacrum (see __init__).
LUMBAR = ("L5", "L4", "L3", "L2", "L1")
# Lordosis contribution weights of the discs, keyed by the disc's upper body.
DISC_WEIGHTS = {"L5": 0.34, "L4": 0.27, "L3": 0.18, "L2": 0.12, "L1": 0.09}
BODY_WEDGE_DEG = {"L1": -2.0, "L2": -1.0, "L3": 0.0, "L4": 1.5, "L5": 4.0}
BODY_HEIGHT_MM = {"L1": 25.5, "L2": 26.5, "L3": 27.5, "L4": 27.5, "L5": 27.0, "X": 25.0,
                  "T12": 23.5, "T11": 22.0, "T10": 21.0, "T9": 20.0}
BODY_DEPTH_MM = {"L1": 35.0, "L2": 37.0, "L3": 38.5, "L4": 39.5, "L5": 40.0, "X": 34.0,
                 "T12": 32.5, "T11": 31.0, "T10": 29.5, "T9": 28.0}
DISC_HEIGHT_MM = {"L5": 10.5, "L4": 11.0, "L3": 10.0, "L2": 9.0, "L1": 8.0, "X": 7.0,
                  "T12": 6.0, "T11": 5.5, "T10": 5.0, "T9": 5.0}
THORACIC = ("T12", "T11", "T10", "T9")
FUSIONS = (("L4", "L5"), ("L5", "S1"), ("L4", "S1"), ("L3", "L5"), ("L3", "S1"), ("L2", "L5"),
           ("L3", "L4"), ("L2", "S1"))
FUSION_WEIGHTS = (0.24, 0.18, 0.18, 0.12, 0.1, 0.06, 0.07, 0.05)
LEVEL_ORDER = ("T9", "T10", "T11", "T12", "X", "L1", "L2", "L3", "L4", "L5", "S1")


@dataclass
class PatientTraits:
    """Drawn once per fake patient."""

    index: int
    transitional: str | None  # None | "lumbarised_S1" | "sacralised_L5"
    scale: float  # anatomy size factor
    sex: str
    age: int


@dataclass
class PhantomParams:
    """All random choices for one image; JSON-serialisable through ``to_dict``."""

    patient: PatientTraits
    facing: str
    rotation_deg: float
    lordosis_target_deg: float
    sacral_slope_deg: float
    stack: list[str]  # bodies above the sacrum, bottom to top
    bodies: dict[str, dict]
    discs: dict[str, dict]  # keyed by the disc's upper body
    sacrum: dict
    listhesis: dict[str, dict] = field(default_factory=dict)  # slipping body -> draw
    fractures: dict[str, float] = field(default_factory=dict)  # anterior height loss
    disc_loss: dict[str, float] = field(default_factory=dict)
    osteophytes: list[tuple[str, str, float]] = field(default_factory=list)
    implants: dict | None = None
    fov: dict = field(default_factory=dict)
    soft: dict = field(default_factory=dict)
    imaging: dict = field(default_factory=dict)
    dicom: dict = field(default_factory=dict)
    size: tuple[int, int] = (512, 400)  # (height, width) px

    @property
    def postop(self) -> bool:
        return self.implants is not None

    def to_dict(self) -> dict:
        return asdict(self)


def sample_patient(rng: np.random.Generator, config: PhantomConfig, index: int) -> PatientTraits:
    transitional = None
    if rng.random() < config.preset.transitional:
        transitional = "lumbarised_S1" if rng.random() < 0.5 else "sacralised_L5"
    sex = "F" if rng.random() < 0.55 else "M"
    scale = float(rng.normal(0.95 if sex == "F" else 1.05, 0.05))
    return PatientTraits(index=index, transitional=transitional,
                         scale=float(np.clip(scale, 0.82, 1.2)), sex=sex,
                         age=int(rng.integers(18, 90)))


def sample_params(rng: np.random.Generator, config: PhantomConfig,
                  patient: PatientTraits | None = None) -> PhantomParams:
    """Draw every random choice of one image."""
    preset = config.preset
    if patient is None:
        patient = sample_patient(rng, config, 0)
    s = patient.scale
    stack = list(LUMBAR)
    if patient.transitional == "lumbarised_S1":
        stack.append("X")  # a sixth lumbar-type body above L1, not a COCO instance
    stack += list(THORACIC)  # drawn when the field of view reaches them

    lordosis = float(rng.uniform(20.0, 70.0))
    sacral_slope = float(np.clip(0.55 * lordosis + 12.0 + rng.normal(0, 5.0), 18.0, 60.0))

    bodies = _sample_bodies(rng, stack, s)
    if patient.transitional == "sacralised_L5":
        bodies["L5"]["height"] *= 0.88
        bodies["L5"]["wedge_deg"] += 3.0
    body_wedges = sum(bodies[n]["wedge_deg"] for n in LUMBAR)
    discs: dict[str, dict] = {}
    for name in stack:
        weight = DISC_WEIGHTS.get(name)
        wedge = (lordosis - body_wedges) * weight if weight else float(rng.normal(-1.0, 1.5))
        discs[name] = {
            "height": float(DISC_HEIGHT_MM[name] * s * rng.uniform(0.85, 1.15)),
            "wedge_deg": float(wedge + (rng.normal(0, 1.5) if weight else 0.0)),
            "bridge": False,
        }
    if patient.transitional == "sacralised_L5":
        discs["L5"]["height"] = float(rng.uniform(2.0, 4.5))
        discs["L5"]["bridge"] = True
    if patient.transitional == "lumbarised_S1":
        discs["L5"]["height"] *= 0.7  # the rudimentary disc below a lumbarised S1

    sacrum = {
        "s1_height_post": float(rng.uniform(22.0, 27.0) * s),
        "s1_height_ant": float(rng.uniform(24.0, 30.0) * s),
        "depth": float(rng.uniform(40.0, 47.0) * s),
        "kyphosis_deg": float(rng.uniform(8.0, 16.0)),
        "tail_segments": int(rng.integers(5, 8)),
    }

    params = PhantomParams(
        patient=patient,
        facing="left" if rng.random() < 0.5 else "right",
        rotation_deg=float(rng.uniform(-preset.rotation_deg, preset.rotation_deg)),
        lordosis_target_deg=lordosis,
        sacral_slope_deg=sacral_slope,
        stack=stack,
        bodies=bodies,
        discs=discs,
        sacrum=sacrum,
    )
    _sample_disease(rng, preset, params)
    if rng.random() < config.postop_share:
        params.implants = _sample_implants(rng)
        for upper in params.implants["cages"]:
            # A cage restores the disc height (and reduces a slip it was placed for).
            discs[upper]["height"] = max(discs[upper]["height"], float(rng.uniform(10.0, 13.0)))
            params.disc_loss.pop(upper, None)
            if upper in params.listhesis:
                params.listhesis[upper].update(overlap=False, disc_factor=1.0)
    _sample_view(rng, config, params)
    return params


def _sample_bodies(rng: np.random.Generator, stack: list[str], s: float) -> dict[str, dict]:
    """Each body's size and shape; one shape family per image: boxy, rounded, or osteoporotic
    (biconcave endplates)."""
    shape = float(rng.uniform(0.0, 1.0))
    concave = (0.6, 2.2) if shape < 0.8 else (1.8, 4.0)
    radius = (2.0, 4.0) if shape < 0.55 else (3.5, 7.0)
    bodies: dict[str, dict] = {}
    for name in stack:
        bodies[name] = {
            "height": float(BODY_HEIGHT_MM[name] * s * rng.uniform(0.9, 1.1)),
            "depth": float(BODY_DEPTH_MM[name] * s * rng.uniform(0.9, 1.1)),
            "wedge_deg": float(BODY_WEDGE_DEG.get(name, -3.0) + rng.normal(0, 1.5)),
            "concavity_sup": float(rng.uniform(*concave)),
            "concavity_inf": float(rng.uniform(*concave)),
            "waist": float(rng.uniform(0.3, 2.2)),
            "radius": float(rng.uniform(*radius)),
            "pedicle_len": float(rng.uniform(12.0, 17.0) * s),
            "spinous_len": float(rng.uniform(24.0, 34.0) * s),
        }
    return bodies


def _sample_disease(rng: np.random.Generator, preset, params: PhantomParams) -> None:
    if rng.random() < preset.listhesis:
        count = 1 if rng.random() < 0.8 else 2
        levels = rng.choice(["L5", "L4", "L3", "L2"], size=count, replace=False,
                            p=[0.45, 0.35, 0.12, 0.08])
        for level in sorted(str(x) for x in levels):
            if rng.random() < 0.15:
                percent = -float(rng.uniform(8.0, min(22.0, preset.max_slip_percent)))  # retro
            else:
                percent = float(rng.uniform(8.0, max(preset.max_slip_percent, 10.0)))
            params.listhesis[level] = {
                "percent": percent,
                "overlap": bool(rng.random() < preset.listhesis_overlap),
                "disc_factor": float(rng.uniform(0.2, 0.7)),
            }
    if rng.random() < preset.fracture:
        level = str(rng.choice(["L1", "L2", "L3", "L4", "L1", "L2"]))
        params.fractures[level] = float(rng.uniform(0.2, 0.5))
    if rng.random() < preset.disc_loss:
        for upper in LUMBAR:
            if rng.random() < 0.35 and upper not in params.listhesis:
                params.disc_loss[upper] = float(rng.uniform(0.3, 0.7))
    if rng.random() < preset.osteophytes:
        for level in LUMBAR[:4] + ("L1",):
            for corner in ("superior-anterior", "inferior-anterior"):
                if rng.random() < 0.3:
                    params.osteophytes.append((level, corner, float(rng.uniform(2.0, 5.0))))
        params.osteophytes = sorted(set(params.osteophytes))


def _sample_implants(rng: np.random.Generator) -> dict:
    top, bottom = FUSIONS[int(rng.choice(len(FUSIONS), p=FUSION_WEIGHTS))]
    order = ["L1", "L2", "L3", "L4", "L5", "S1"]
    fused = order[order.index(top): order.index(bottom) + 1]
    screws = bool(rng.random() < 0.85)
    cages = [lvl for lvl in fused[:-1] if rng.random() < (0.5 if screws else 0.8)]
    plate = None
    if rng.random() < 0.15 or (not screws and not cages):
        plate = fused[-2]
    return {
        "fused": fused,
        "screws": screws,
        "cages": cages,
        "cage_material": "titanium" if rng.random() < 0.4 else "peek",
        "plate": plate,
        "screw_len_mm": float(rng.uniform(40.0, 50.0)),
        "screw_jitter": [float(x) for x in rng.normal(0, 1.0, size=2 * len(fused))],
    }


def _sample_view(rng: np.random.Generator, config: PhantomConfig, params: PhantomParams) -> None:
    preset = config.preset
    height = config.size
    aspect = float(rng.uniform(*config.aspect))
    params.size = (height, int(round(height * aspect)))
    params.fov = {
        "top_cut": float(rng.uniform(0.15, 0.85)) if rng.random() < preset.fov_cut_top else None,
        "bottom_cut": (float(rng.uniform(0.2, 0.8)) if rng.random() < preset.fov_cut_bottom
                       else None),
        # Zoom: the column spans this share of the film; the rest is split above/below.
        "column_fraction": float(rng.uniform(*config.column_fraction)),
        "top_share": float(rng.uniform(0.15, 0.6)),
        "x_shift": float(rng.uniform(-0.25, 0.25)),
    }
    params.soft = {
        "back_mm": float(rng.uniform(55.0, 95.0) * params.patient.scale),
        "belly_mm": float(rng.uniform(110.0, 230.0) * params.patient.scale),
        "buttock_mm": float(rng.uniform(25.0, 70.0)),
        "bowel_gas": int(rng.integers(preset.bowel_gas[0], preset.bowel_gas[1] + 1)),
        "pelvis_dx": float(rng.uniform(-15.0, 15.0)),
        "pelvis_dy": float(rng.uniform(-12.0, 12.0)),
        "hip_offset": [float(x) for x in rng.uniform(2.0, 10.0, size=2)],
        "ribs": int(rng.integers(2, 9)),
        "rib_mu": float(rng.uniform(0.12, 0.4)),
    }
    params.imaging = sample_imaging(rng, preset, config.styles)
    modality = "CR" if rng.random() < 0.5 else "DX"
    params.dicom = {
        "modality": modality,
        "photometric": "MONOCHROME1" if rng.random() < config.monochrome1_share else "MONOCHROME2",
        "bits_stored": int(rng.choice([10, 12, 12, 14, 15, 16])),
        "compressed": bool(rng.random() < config.compressed_share),
        "spacing_tag": "PixelSpacing" if modality == "CR" else "ImagerPixelSpacing",
    }
