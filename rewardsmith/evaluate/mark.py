"""The mark on a film's end card: a coloured border and a few lines of text drawn into an RGB frame.

The border is numpy; the text is Pillow's ImageDraw with its built-in font. Pillow is already in every install
(imageio and matplotlib need it; the vision judge labels its frames with it), so the text is readable words at no
new dependency, where a hand-made numpy bitmap font would be a table of glyphs to maintain for worse letters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUCCESS = (22, 163, 74)  # green: the episode reached the task's success threshold
FAILURE = (220, 38, 38)  # red: it did not
NEUTRAL = (148, 163, 184)  # grey: the task has no threshold, or the run is blind
TEXT = (255, 255, 255)
SHADE = 0.3  # the text band keeps this much of the picture under it, so the body stays visible behind the words


@dataclass(frozen=True)
class Mark:
    """What the end card shows: lines of text (top first) and the border's colour."""

    lines: tuple[str, ...]
    colour: tuple[int, int, int]

    def border(self, height: int, width: int) -> int:
        return max(2, round(min(height, width) / 48))  # 10 px on a 480 px film

    def draw(self, frame: np.ndarray) -> np.ndarray:
        """A copy of `frame` (uint8 [H, W, 3]) with the border and, at its foot, the lines on a dark band."""
        out = np.array(frame, dtype=np.uint8, copy=True)
        height, width = out.shape[:2]
        edge = self.border(height, width)
        if self.lines:
            _write(out, self.lines, edge)
        for region in (out[:edge], out[-edge:], out[:, :edge], out[:, -edge:]):
            region[...] = self.colour
        return out


def _write(frame: np.ndarray, lines: tuple[str, ...], edge: int) -> None:
    """Draws `lines` on a shaded band at the foot of `frame`, inside the border, in place."""
    from PIL import Image, ImageDraw

    height, width = frame.shape[:2]
    font, line_height = _font(lines, width - 2 * edge - 8, height)
    band = len(lines) * line_height + 8
    top = max(edge, height - edge - band)
    region = frame[top:height - edge, edge:width - edge]
    region[...] = (region * SHADE).astype(np.uint8)
    image = Image.fromarray(region)
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((4, 4 + n * line_height), line, fill=TEXT, font=font)
    region[...] = np.asarray(image)


def _font(lines: tuple[str, ...], room: int, height: int):
    """Pillow's built-in font at the largest size up to height/26 (18 px on a 480 px film) at which the longest
    line fits `room` pixels; its line height. Pillow before 10.1 has one bitmap size only."""
    from PIL import ImageFont

    size = max(8, round(height / 26))
    while True:
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1: no sizes
            font = ImageFont.load_default()
            size = 8
        widest = max(font.getbbox(line)[2] for line in lines)
        if widest <= room or size <= 8:
            return font, round(size * 1.25) + 1
        size -= 1
