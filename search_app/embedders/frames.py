"""Frames: decode GIFs and images into RGB frames for a CLIP image encoder, and pick a few.

Two ways to pick a GIF's frames (measured in benchmarks/frames_cost.py):
- "even": first, middle and last (count frames evenly spaced over the GIF);
- "diverse": greedy farthest-point on 16x16 thumbnails: start from the most typical frame,
  then add the frame least like any picked so far, stopping early when what is left only
  repeats a picked frame (a still GIF gives one frame).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from search_app.errors import ConfigError, ImageReadError, first_line

FRAME_STRATEGIES = ("diverse", "even")
DEFAULT_FRAME_STRATEGY = "diverse"  # covers more of a GIF's scenes (benchmarks/frames_cost.py)
DEFAULT_FRAMES_PER_GIF = 3
MAX_FRAMES_PER_GIF = 16
MAX_SCANNED_FRAMES = 500  # frames read per GIF; later ones are ignored
MAX_FRAME_PIXELS = 4096 * 4096  # a larger canvas is refused before anything is decoded
MAX_KEPT_SIDE_PX = 512  # picked frames are shrunk to fit: CLIP looks at 224 px anyway
MAX_QUERY_IMAGE_BYTES = 50 * 1024 * 1024
THUMB_SIDE_PX = 16
DUPLICATE_RMS = 0.01  # thumbnails closer than this (RMS, pixels in 0..1) show the same thing


@dataclass(frozen=True)
class SelectedFrames:
    """The frames picked from one GIF: their indices, RGB images, and how many were read."""

    frame_count: int
    indices: tuple[int, ...]
    images: tuple[Image.Image, ...]


def check_frame_options(strategy: str, count: int) -> None:
    """Raise ConfigError for an unknown strategy or a count outside 1..MAX_FRAMES_PER_GIF."""
    if strategy not in FRAME_STRATEGIES:
        raise ConfigError(
            f"frame strategy {strategy!r} is not one of {', '.join(FRAME_STRATEGIES)}"
        )
    if not 1 <= count <= MAX_FRAMES_PER_GIF:
        raise ConfigError(f"frames per GIF {count} is out of range: use 1 to {MAX_FRAMES_PER_GIF}")


def open_image(data: bytes) -> Image.Image:
    """Open image bytes (a GIF or any format Pillow reads); raise ImageReadError if it can't."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageReadError("image canvas is too large", reason="too_large") from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image format Pillow can decode") from None
    except Exception as exc:  # Pillow raises many types for a broken file
        raise ImageReadError(f"not a readable image ({first_line(exc)})") from None
    check_canvas(image)
    return image


def check_canvas(image: Image.Image) -> None:
    """Raise ImageReadError (too_large) when the canvas exceeds MAX_FRAME_PIXELS."""
    width, height = image.size
    if width * height > MAX_FRAME_PIXELS:
        raise ImageReadError(
            f"image canvas {width}x{height} is over {MAX_FRAME_PIXELS:,} pixels",
            reason="too_large",
        )


def read_image_file(path: Path) -> Image.Image:
    """Open an image file given as a query; raise ImageReadError saying what is wrong."""
    if not path.is_file():
        raise ImageReadError(f"image {path} does not exist")
    if path.stat().st_size > MAX_QUERY_IMAGE_BYTES:
        raise ImageReadError(f"image {path} is larger than {MAX_QUERY_IMAGE_BYTES >> 20} MiB")
    try:
        image = open_image(path.read_bytes())
        image.load()  # decode now, so a broken file fails here and not mid-search
    except ImageReadError as exc:
        raise ImageReadError(f"can't read image {path}: {exc}", exc.reason) from None
    except Exception as exc:
        raise ImageReadError(f"can't read image {path}: {first_line(exc)}") from None
    return image


def query_frames(image: Image.Image, strategy: str = DEFAULT_FRAME_STRATEGY) -> list[Image.Image]:
    """Return the frames a query image is embedded from: picked frames of a GIF, else itself."""
    check_canvas(image)
    if getattr(image, "is_animated", False):
        return list(select_frames(image, strategy, DEFAULT_FRAMES_PER_GIF).images)
    return [fit_frame(image)]


def select_frames(image: Image.Image, strategy: str, count: int) -> SelectedFrames:
    """Pick up to count frames of an image (animated or not) by strategy.

    Raises ImageReadError when not even the first frame decodes.
    """
    check_frame_options(strategy, count)
    check_canvas(image)
    if strategy == "even":
        total = scan_frame_count(image)
        indices = choose_even(total, count)
    else:
        thumbs = [thumbnail_vector(frame) for _, frame in iter_frames(image)]
        total = len(thumbs)
        indices = choose_diverse(np.stack(thumbs), count)
    images = read_frames(image, indices)
    return SelectedFrames(total, tuple(indices), tuple(images))


def iter_frames(
    image: Image.Image, limit: int = MAX_SCANNED_FRAMES
) -> Iterator[tuple[int, Image.Image]]:
    """Yield (index, image positioned at that frame) for up to limit frames.

    A frame that fails to decode after the first ends the GIF there (a truncated file
    keeps its good frames); a first frame that fails raises ImageReadError.
    """
    for index in range(limit):
        try:
            image.seek(index)
            image.load()
        except EOFError:
            return
        except Exception as exc:  # a broken frame: Pillow raises OSError, ValueError, ...
            if index == 0:
                raise ImageReadError(f"not a readable image ({first_line(exc)})") from None
            return
        yield index, image


def scan_frame_count(image: Image.Image) -> int:
    """Return how many frames the image has (at most MAX_SCANNED_FRAMES).

    Pillow counts a GIF's frames from their headers without decoding them; when that
    fails the frames are decoded one by one until one breaks.
    """
    try:
        return max(1, min(int(getattr(image, "n_frames", 1)), MAX_SCANNED_FRAMES))
    except Exception:  # a damaged GIF: count what decodes
        image.seek(0)
    total = sum(1 for _ in iter_frames(image))
    if total == 0:
        raise ImageReadError("image has no frames")
    return total


def read_frames(image: Image.Image, indices: list[int]) -> list[Image.Image]:
    """Return the frames at indices (ascending) as RGB copies that fit MAX_KEPT_SIDE_PX."""
    wanted = set(indices)
    picked = [
        fit_frame(frame) for index, frame in iter_frames(image, max(indices) + 1) if index in wanted
    ]
    if not picked:
        raise ImageReadError("image has no readable frames")
    return picked


def fit_frame(frame: Image.Image) -> Image.Image:
    """Return an RGB copy of frame, shrunk to fit MAX_KEPT_SIDE_PX on its longer side."""
    rgb = frame.convert("RGB")
    rgb.thumbnail((MAX_KEPT_SIDE_PX, MAX_KEPT_SIDE_PX), Image.Resampling.BICUBIC)
    return rgb


def thumbnail_vector(frame: Image.Image) -> np.ndarray:
    """Return a frame as a flat vector of a THUMB_SIDE_PX-square RGB thumbnail in 0..1."""
    small = frame.convert("RGB").resize((THUMB_SIDE_PX, THUMB_SIDE_PX), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32).reshape(-1) / 255.0


def choose_even(total: int, count: int) -> list[int]:
    """Return count frame indices evenly spread over total frames: first, ..., last.

    One frame is the middle one; count >= total gives every frame.
    """
    if count >= total:
        return list(range(total))
    if count == 1:
        return [(total - 1) // 2]
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})


def choose_diverse(thumbs: np.ndarray, count: int) -> list[int]:
    """Return up to count indices of mutually most different frames, ascending.

    Greedy farthest-point: the frame nearest the mean first, then repeatedly the frame
    whose RMS distance to its nearest picked frame is largest, until count are picked or
    that distance falls under DUPLICATE_RMS (the rest repeat what is already picked).
    """
    centre = thumbs.mean(axis=0)
    first = int(np.argmin(rms_distances(thumbs, centre)))
    chosen = [first]
    nearest = rms_distances(thumbs, thumbs[first])
    while len(chosen) < min(count, len(thumbs)):
        candidate = int(np.argmax(nearest))
        if nearest[candidate] < DUPLICATE_RMS:
            break
        chosen.append(candidate)
        nearest = np.minimum(nearest, rms_distances(thumbs, thumbs[candidate]))
    return sorted(chosen)


def rms_distances(thumbs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Return the root-mean-square difference of each thumbnail row from target."""
    distances: np.ndarray = np.sqrt(np.mean((thumbs - target) ** 2, axis=1))
    return distances
