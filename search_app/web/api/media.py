"""A folder source's GIF files, served by GIF id only (never a path from a client), and one
small rendition of each, made once with Pillow and cached.

A web GIF has one file, its own URL: every rendition a dialect names points at it, with
its real size where the link checker saw it. A folder GIF has its file (served here) and
a small rendition (SMALL_WIDTH_PX wide at most, same aspect, its first MAX_SMALL_FRAMES
frames) for thumbnails.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageSequence

from search_app.embedders.frames import check_canvas
from search_app.errors import ImageReadError
from search_app.records import StoredGif

MAX_FILE_BYTES = 20 * 1024 * 1024  # the largest GIF served (the downloads' own cap)
SMALL_WIDTH_PX = 200  # GIPHY's fixed_width; Tenor's tinygif is about as wide
MAX_SMALL_FRAMES = 120
MAX_SCANNED_FRAMES = 2_000  # frames read to sum a GIF's duration
RENDITIONS_DIR = "renditions"  # under the cache directory
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")


@dataclass(frozen=True)
class GifFile:
    """A folder GIF's file as served: its path, bytes, pixels and one loop's seconds."""

    path: Path
    size: int
    width: int
    height: int
    duration_s: float


def small_size(width: int, height: int) -> tuple[int, int]:
    """The small rendition's size for a GIF of width x height (0, 0: unknown)."""
    if width <= 0 or height <= 0:
        return 0, 0
    if width <= SMALL_WIDTH_PX:
        return width, height
    return SMALL_WIDTH_PX, max(1, round(height * SMALL_WIDTH_PX / width))


def local_path(gif: StoredGif) -> Path | None:
    """The file of a folder source's GIF: a regular file (not a link), a GIF by its
    signature and at most MAX_FILE_BYTES; None for a web GIF or a file that isn't that."""
    if not gif.path:
        return None
    path = Path(gif.path)
    try:
        if path.is_symlink() or not path.is_file():
            return None
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        with path.open("rb") as handle:
            if handle.read(6) not in GIF_SIGNATURES:
                return None
    except OSError:
        return None
    return path


class MediaLibrary:
    """Folder GIFs' files and small renditions; what is learned of a file is kept until
    the file changes (thread-safe: API handlers share one)."""

    def __init__(self, cache_dir: Path) -> None:
        self.renditions = cache_dir / RENDITIONS_DIR
        self._files: dict[tuple[str, int, int], GifFile] = {}
        self._lock = threading.Lock()

    def file(self, gif: StoredGif) -> GifFile | None:
        """Return a folder GIF's file with its size and duration (None: not servable)."""
        path = local_path(gif)
        if path is None:
            return None
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            known = self._files.get(key)
        if known is not None:
            return known
        try:
            with Image.open(path) as image:
                check_canvas(image)
                total_ms = 0
                for count, frame in enumerate(ImageSequence.Iterator(image), start=1):
                    total_ms += int(frame.info.get("duration", 0) or 0)
                    if count >= MAX_SCANNED_FRAMES:
                        break
                width, height = image.size
        except (OSError, ValueError, ImageReadError, Image.DecompressionBombError):
            return None
        found = GifFile(path, stat.st_size, width, height, total_ms / 1000)
        with self._lock:
            self._files[key] = found
        return found

    def small(self, gif: StoredGif) -> Path | None:
        """Return the small rendition of a folder GIF, made on first use (None: its file
        can't be served or read)."""
        source = self.file(gif)
        if source is None:
            return None
        stamp = f"{gif.gif_id}-{int(os.stat(source.path).st_mtime)}-{source.size}"
        target = self.renditions / f"{stamp}.gif"
        if target.is_file():
            return target
        with self._lock:  # one rendition made at a time: each can take a second
            if not target.is_file():
                self._make_small(source, target)
        return target if target.is_file() else None

    def _make_small(self, source: GifFile, target: Path) -> None:
        """Write the small rendition of source to target, atomically."""
        size = small_size(source.width, source.height)
        frames: list[Image.Image] = []
        durations: list[int] = []
        try:
            with Image.open(source.path) as image:
                check_canvas(image)
                for frame in ImageSequence.Iterator(image):
                    frames.append(frame.convert("RGBA").resize(size, Image.Resampling.LANCZOS))
                    durations.append(int(frame.info.get("duration", 100) or 100))
                    if len(frames) >= MAX_SMALL_FRAMES:
                        break
        except (OSError, ValueError, ImageReadError, Image.DecompressionBombError):
            return
        if not frames:
            return
        self.renditions.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.renditions, suffix=".part")
        os.close(handle)
        try:
            frames[0].save(
                temporary,
                "GIF",
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=0,
                disposal=2,
            )
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
