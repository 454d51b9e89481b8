"""Colours read from the photo: the dominant colours of the garment, ignoring a plain background.

Catalogue photos are packshots on a plain (usually white) backdrop. The backdrop colour is read
from the photo's border; pixels close to it are dropped (when the border is uniform), the rest
are quantised to a few colours, and each is named by the nearest vocabulary colour in CIELAB
(perceptual distance, so navy and black are told apart the way eyes do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from garments.images import InvalidImageError, open_guarded

from ..vocabulary import Vocabulary

THUMBNAIL = 64  # 4,096 pixels: enough to find a garment's colour, ~1 ms to process
BORDER = 2
BACKDROP_SHARE = 0.6  # share of border pixels close to their median for the border to be a backdrop
BACKGROUND_DISTANCE = 12.0  # Delta E from the backdrop below which a pixel is backdrop
MIN_SHARE = 0.12  # a colour covering less of the garment is trim, not its colour
SOURCE = "image"


class ImageColourError(ValueError):
    pass


@dataclass(frozen=True)
class ColourShare:
    color: str
    share: float  # of the garment's (non-background) pixels
    distance: float  # Delta E to the named colour's reference


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0..255, shape (..., 3)) to CIELAB (D65)."""
    c = rgb.astype(np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


ACHROMATIC_CHROMA = 10.0  # below this saturation a colour is black, grey or white by lightness alone
# Lightness bands for achromatic colours (photos shade a black jumper to dark grey, a white one to silver).
ACHROMATIC = ((32.0, "black"), (72.0, "grey"), (101.0, "white"))
NON_HUES = {"black", "charcoal", "grey", "silver", "steel", "white", "metallic", "multi"}


def name_colour(lab: np.ndarray, vocabulary: Vocabulary) -> tuple[str, float]:
    """The vocabulary colour a CIELAB value is, and how far it is from that colour's reference.

    Saturated colours are matched on hue first (lightness counts half), because shading in a photo
    changes lightness far more than hue; greys are named by lightness.
    """
    lightness, a, b = (float(x) for x in lab)
    chroma = float(np.hypot(a, b))
    if chroma < ACHROMATIC_CHROMA:
        name = next(name for limit, name in ACHROMATIC if lightness < limit)
        return name, chroma
    best, best_distance = "multi", float("inf")
    for value in vocabulary.values["color"].values():
        if value.canonical in NON_HUES or value.rgb is None:
            continue
        ref = rgb_to_lab(np.asarray(value.rgb, dtype=np.float64))
        distance = float(np.sqrt(((lightness - ref[0]) / 2) ** 2 + (a - ref[1]) ** 2 + (b - ref[2]) ** 2))
        if distance < best_distance:
            best, best_distance = value.canonical, distance
    # A photo tells a colour's family far better than its shade (navy or blue, maroon or red under
    # studio light): name the family's basic colour and leave shades to the words.
    family = vocabulary.color_family(best) or best
    return (family if vocabulary.value("color", family) else best), best_distance


def _thumbnail(content: bytes) -> np.ndarray:
    try:
        image = open_guarded(content, THUMBNAIL)
    except InvalidImageError as exc:
        raise ImageColourError(exc.message) from exc
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    return np.asarray(image)


def dominant_colours(content: bytes, vocabulary: Vocabulary, *, colours: int = 4) -> list[ColourShare]:
    """The garment's colours, largest share first."""
    pixels = _thumbnail(content)
    lab = rgb_to_lab(pixels)
    border = np.concatenate([lab[:BORDER].reshape(-1, 3), lab[-BORDER:].reshape(-1, 3),
                             lab[:, :BORDER].reshape(-1, 3), lab[:, -BORDER:].reshape(-1, 3)])  # fmt: skip
    flat_rgb = pixels.reshape(-1, 3)
    flat_lab = lab.reshape(-1, 3)
    keep = np.ones(len(flat_lab), dtype=bool)
    background = np.median(border, axis=0)
    # A backdrop: most of the border is one colour (the garment may touch the edge in places).
    if (np.linalg.norm(border - background, axis=1) < BACKGROUND_DISTANCE).mean() > BACKDROP_SHARE:
        keep = np.linalg.norm(flat_lab - background, axis=1) > BACKGROUND_DISTANCE
    if keep.sum() < 0.02 * len(keep):  # nothing but backdrop: the garment is the backdrop's colour
        keep[:] = True
    garment = Image.fromarray(flat_rgb[keep].reshape(1, -1, 3).astype(np.uint8))
    quantised = garment.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    palette = np.asarray(quantised.getpalette()[: colours * 3], dtype=np.float64).reshape(-1, 3)  # type: ignore[index]
    counts = np.bincount(np.asarray(quantised).ravel(), minlength=colours)[: len(palette)]
    shares: dict[str, tuple[float, float]] = {}
    total = counts.sum()
    for index in np.argsort(-counts):
        if counts[index] == 0:
            continue
        name, distance = name_colour(rgb_to_lab(palette[index]), vocabulary)
        share, best = shares.get(name, (0.0, distance))
        shares[name] = (share + counts[index] / total, min(best, distance))
    ranked = sorted(shares.items(), key=lambda item: -item[1][0])
    return [ColourShare(name, round(share, 3), round(distance, 1)) for name, (share, distance) in ranked]


def image_colour(content: bytes, vocabulary: Vocabulary) -> tuple[str, float] | None:
    """The garment's main colour and a confidence, or None when no colour dominates."""
    found = [colour for colour in dominant_colours(content, vocabulary) if colour.share >= MIN_SHARE]
    if not found:
        return None
    top = found[0]
    # Confidence: how much of the garment it covers, discounted by how far it is from the named colour,
    # scaled so it tracks the precision measured on the 2,000 Myntra photos (docs/ontology.md):
    # photos scoring >= 0.45 were right about the colour family 51% of the time, >= 0.6 62%.
    confidence = 0.85 * min(0.85, top.share) * max(0.3, 1 - top.distance / 60)
    return top.color, round(float(confidence), 3)
