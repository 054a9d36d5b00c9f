"""Contact sheet of a phantom dataset: the DICOM pixels as a model sees them, plus truth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from lumbarseg.io.atomic import write_bytes_atomic
from lumbarseg.io.radiograph import load_network_input
from lumbarseg.levels import LEVEL_COLORS, level_name

TILE = 320


def write_contact_sheet(annotations: str | Path, out_png: str | Path, max_images: int = 12,
                        columns: int = 4) -> Path:
    """Tile the first images with their polygons, labels and implant outlines drawn on."""
    annotations = Path(annotations)
    coco = json.loads(annotations.read_text(encoding="utf-8"))
    by_image: dict[int, list] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    tiles = []
    for entry in coco["images"][:max_images]:
        gray = load_network_input(annotations.parent / entry["file_name"])
        scale = TILE / gray.shape[0]
        size = (max(int(round(gray.shape[1] * scale)), 1), TILE)
        tile = cv2.cvtColor(cv2.resize(gray, size, interpolation=cv2.INTER_AREA),
                            cv2.COLOR_GRAY2BGR)
        for ann in by_image.get(entry["id"], []):
            r, g, b = LEVEL_COLORS[ann["category_id"] - 1]
            for poly in ann["segmentation"]:
                pts = np.round(np.reshape(poly, (-1, 2)) * scale).astype(np.int32)
                cv2.polylines(tile, [pts], True, (b, g, r), 1, cv2.LINE_AA)
            x, y = np.mean(np.reshape(ann["corners"], (-1, 2)), axis=0) * scale
            cv2.putText(tile, level_name(ann["category_id"]), (int(x) - 8, int(y) + 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (b, g, r), 1, cv2.LINE_AA)
        truth = entry["lumbarseg_truth"]
        for implant in truth["implants"]:
            pts = np.round(np.reshape(implant["polygon"], (-1, 2)) * scale).astype(np.int32)
            cv2.polylines(tile, [pts], True, (0, 0, 255), 1, cv2.LINE_AA)
        caption = (f"#{entry['id']} LL {truth['lordosis_deg']:.0f} {truth['facing'][0]}"
                   f"{' T:' + truth['transitional'][:4] if truth['transitional'] else ''}"
                   f"{' slip:' + ','.join(truth['listhesis']) if truth['listhesis'] else ''}")
        cv2.putText(tile, caption, (4, TILE - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1,
                    cv2.LINE_AA)
        canvas = np.zeros((TILE, TILE, 3), np.uint8)
        canvas[:, : min(TILE, tile.shape[1])] = tile[:, :TILE]
        tiles.append(canvas)
    while len(tiles) % columns:
        tiles.append(np.zeros((TILE, TILE, 3), np.uint8))
    rows = [np.hstack(tiles[i: i + columns]) for i in range(0, len(tiles), columns)]
    ok, data = cv2.imencode(".png", np.vstack(rows))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    write_bytes_atomic(out_png, data.tobytes())
    return Path(out_png)
