"""Contact sheets: rows of labelled image tiles, for people to look at results."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..image import to_uint8


def face_box(face, margin: float = 0.75, above: float = 1.05, below: float = 1.15) -> tuple[float, float, float, float]:
    """A portrait crop ``(x0, y0, x1, y1)`` around a :class:`mien.face.Face`: ``margin``
    face widths to each side of its centre, scaled by ``above``/``below`` vertically."""
    c, half = face.centre, margin * face.size
    return (c[0] - half, c[1] - half * above, c[0] + half, c[1] + half * below)


def tile(image: np.ndarray, height: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Crop ``image`` to ``box`` ``(x0, y0, x1, y1)`` (if given) and scale to ``height``."""
    img = to_uint8(image)
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        h, w = img.shape[:2]
        img = img[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
        # Where the box leaves the photo, pad with white so every tile has the box's shape.
        img = cv2.copyMakeBorder(img, max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w),
                                 cv2.BORDER_CONSTANT, value=(255, 255, 255))
    f = height / img.shape[0]
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, (max(1, round(img.shape[1] * f)), height), interpolation=interp)


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str] = (),
                  row_labels: Sequence[str] = (), gap: int = 6) -> np.ndarray:
    """Lay tiles out in a grid with column labels on top and row labels at the left.

    Args:
        rows: rows of ``(h, w, 3)`` ``uint8`` RGB tiles (same height within a row).
        labels: column titles.
        row_labels: one caption per row, drawn on its first tile.

    Returns:
        ``(H, W, 3)`` ``uint8`` RGB sheet on a white background.
    """
    header = 28 if labels else 0
    widths = [sum(t.shape[1] for t in r) + gap * (len(r) + 1) for r in rows]
    width = max(widths)
    height = header + sum(r[0].shape[0] for r in rows) + gap * (len(rows) + 1)
    sheet = np.full((height, width, 3), 255, np.uint8)
    y = header + gap
    col_x: list[int] = []
    for ri, row in enumerate(rows):
        x = gap
        for t in row:
            sheet[y:y + t.shape[0], x:x + t.shape[1]] = t
            if ri == 0:
                col_x.append(x)
            x += t.shape[1] + gap
        if ri < len(row_labels) and row_labels[ri]:
            cv2.putText(sheet, row_labels[ri], (gap + 4, y + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 0), 1, cv2.LINE_AA)
        y += row[0].shape[0] + gap
    for x, text in zip(col_x, labels):
        cv2.putText(sheet, text, (x + 2, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet
