"""Train/val/test splits by patient: all images of one patient land in the same split."""

from __future__ import annotations

import random
from collections import defaultdict

from lumbarseg.errors import LumbarsegError

SPLIT_NAMES = ("train", "val", "test")


def parse_fractions(text: str) -> tuple[float, ...]:
    """``"0.7,0.15,0.15"`` -> fractions (2 or 3 of them, non-negative, summing to 1)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise LumbarsegError(f"--split {text!r}: expected numbers like 0.7,0.15,0.15") from None
    if not 2 <= len(values) <= 3 or any(v < 0 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise LumbarsegError(f"--split {text!r}: need 2 or 3 non-negative fractions summing to 1")
    return values


def split_by_patient(
    patient_of_image: dict[int, str], fractions: tuple[float, ...], seed: int
) -> dict[str, list[int]]:
    """Assign image ids to splits; patients are shuffled with ``seed`` and placed so each
    split's image count tracks its fraction (whole patients only, so counts are approximate)."""
    images_of: dict[str, list[int]] = defaultdict(list)
    for image_id, patient in patient_of_image.items():
        images_of[patient].append(image_id)
    # Ordered by first image, not by key: keys are keyed hashes whose secret is new for each
    # dataset, and the same seed must give the same split of the same images.
    patients = sorted(images_of, key=lambda patient: min(images_of[patient]))
    random.Random(seed).shuffle(patients)
    names = SPLIT_NAMES[: len(fractions)]
    total = len(patient_of_image)
    result: dict[str, list[int]] = {name: [] for name in names}
    done = 0
    for patient in patients:
        count = len(images_of[patient])
        # The patient's images go to the split whose cumulative range holds their midpoint.
        middle = (done + count / 2) / max(total, 1)
        edge, chosen = 0.0, names[-1]
        for name, fraction in zip(names, fractions, strict=True):
            edge += fraction
            if middle < edge:
                chosen = name
                break
        result[chosen].extend(sorted(images_of[patient]))
        done += count
    return result
