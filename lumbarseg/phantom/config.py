"""What a phantom dataset request asks for, and the per-difficulty ranges of every random draw.

The request (``PhantomConfig``) is separate from the draws (``params.sample_params``) so that
tests can check the distribution of hundreds of draws without rendering a single image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lumbarseg.errors import LumbarsegError
from lumbarseg.phantom.styles import DEFAULT_STYLES, STYLE_FAMILIES

MIN_SIZE = 128
MAX_SIZE = 2048


@dataclass(frozen=True)
class Difficulty:
    """Probabilities and ranges that make a dataset easy, normal or hard."""

    listhesis: float  # probability that an image has at least one slipped level
    max_slip_percent: float
    listhesis_overlap: float  # probability that a slipped level's bodies overlap in projection
    fracture: float
    disc_loss: float
    osteophytes: float
    transitional: float  # probability per patient, split evenly lumbarised/sacralised
    fov_cut_top: float
    fov_cut_bottom: float
    rotation_deg: float  # uniform in +-this
    photons: tuple[float, float]  # quanta per pixel at full exposure (lower = noisier)
    scatter: tuple[float, float]
    bowel_gas: tuple[int, int]
    blur_mm: tuple[float, float]


DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty(
        listhesis=0.05, max_slip_percent=20, listhesis_overlap=0.2, fracture=0.03, disc_loss=0.1,
        osteophytes=0.15, transitional=0.0, fov_cut_top=0.05, fov_cut_bottom=0.05,
        rotation_deg=3, photons=(1500, 4000), scatter=(0.1, 0.3), bowel_gas=(0, 3),
        blur_mm=(0.15, 0.35),
    ),
    "normal": Difficulty(
        listhesis=0.18, max_slip_percent=45, listhesis_overlap=0.5, fracture=0.08, disc_loss=0.3,
        osteophytes=0.4, transitional=0.12, fov_cut_top=0.12, fov_cut_bottom=0.1,
        rotation_deg=6, photons=(500, 3000), scatter=(0.2, 0.6), bowel_gas=(1, 6),
        blur_mm=(0.2, 0.5),
    ),
    "hard": Difficulty(
        listhesis=0.35, max_slip_percent=80, listhesis_overlap=0.7, fracture=0.15, disc_loss=0.5,
        osteophytes=0.6, transitional=0.2, fov_cut_top=0.25, fov_cut_bottom=0.2,
        rotation_deg=10, photons=(200, 2000), scatter=(0.3, 0.9), bowel_gas=(2, 9),
        blur_mm=(0.25, 0.7),
    ),
}


@dataclass(frozen=True)
class PhantomConfig:
    """A dataset request. ``size`` is the image height in pixels; width follows the aspect."""

    size: int = 512
    difficulty: str = "normal"
    postop_share: float = 0.3
    aspect: tuple[float, float] = (0.72, 1.0)  # width / height
    monochrome1_share: float = 0.4
    compressed_share: float = 0.3
    images_per_patient: tuple[int, int] = (1, 4)
    # None: take the difficulty's value.
    listhesis_share: float | None = None
    transitional_share: float | None = None
    fov_cut_share: float | None = None
    # Imaging-style families drawn from (uniformly); see ``styles.STYLE_FAMILIES``.
    styles: tuple[str, ...] = DEFAULT_STYLES
    # Share of the film height the column L1 top..S1 bottom spans when it is not cut.
    column_fraction: tuple[float, float] = (0.4, 0.95)

    def __post_init__(self) -> None:
        unknown = [s for s in self.styles if s not in STYLE_FAMILIES]
        if not self.styles or unknown:
            raise LumbarsegError(f"styles {list(self.styles)!r}: choose from "
                                 f"{', '.join(STYLE_FAMILIES)}")
        lo, hi = self.column_fraction
        if not 0.1 <= lo <= hi <= 1.0:
            raise LumbarsegError(f"column_fraction {self.column_fraction} is not 0.1 <= lo <= hi "
                                 "<= 1")
        if self.difficulty not in DIFFICULTIES:
            raise LumbarsegError(
                f"difficulty {self.difficulty!r} is not one of {', '.join(DIFFICULTIES)}"
            )
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise LumbarsegError(f"size {self.size} px is outside {MIN_SIZE}..{MAX_SIZE}")
        for name in ("postop_share", "monochrome1_share", "compressed_share", "listhesis_share",
                     "transitional_share", "fov_cut_share"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise LumbarsegError(f"{name} {value} is not a share between 0 and 1")

    @property
    def preset(self) -> Difficulty:
        base = DIFFICULTIES[self.difficulty]
        changes: dict = {}
        if self.listhesis_share is not None:
            changes["listhesis"] = self.listhesis_share
        if self.transitional_share is not None:
            changes["transitional"] = self.transitional_share
        if self.fov_cut_share is not None:
            changes["fov_cut_top"] = self.fov_cut_share
            changes["fov_cut_bottom"] = self.fov_cut_share
        return replace(base, **changes)
