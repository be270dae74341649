"""Frames fixtures: GIFs drawn with Pillow, a tiny-CLIP settings, a misbehaving HTTP server."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from search_app.settings import Settings
from tests.local_http import Route, body_route

SIZE = (64, 48)
SHAPES = ("circle", "square", "triangle", "bar")
COLOURS = {
    "red": (225, 29, 72),
    "blue": (37, 99, 235),
    "green": (22, 163, 74),
    "yellow": (234, 179, 8),
    "purple": (147, 51, 234),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
    "orange": (234, 88, 12),
}


@dataclass(frozen=True)
class Scene:
    """A stretch of frames: a shape of one colour moving over one background."""

    background: str
    shape: str
    colour: str
    frames: int


def draw_frame(scene: Scene, step: int, size: tuple[int, int] = SIZE) -> Image.Image:
    """Draw one frame of a scene: the shape moved step pixels to the right."""
    image = Image.new("RGB", size, COLOURS[scene.background])
    draw = ImageDraw.Draw(image)
    x, y, side = 6 + 2 * step, size[1] // 4, size[1] // 2
    box = (x, y, x + side, y + side)
    fill = COLOURS[scene.colour]
    if scene.shape == "circle":
        draw.ellipse(box, fill=fill)
    elif scene.shape == "square":
        draw.rectangle(box, fill=fill)
    elif scene.shape == "triangle":
        draw.polygon([(x, y + side), (x + side // 2, y), (x + side, y + side)], fill=fill)
    else:
        draw.rectangle((x, y + side // 3, x + side, y + 2 * side // 3), fill=fill)
    return image


def gif_frames(scenes: list[Scene], size: tuple[int, int] = SIZE) -> list[Image.Image]:
    """Return every frame of the scenes, in order."""
    return [draw_frame(scene, step, size) for scene in scenes for step in range(scene.frames)]


def make_gif(scenes: list[Scene], size: tuple[int, int] = SIZE) -> bytes:
    """Return an animated GIF of the scenes (each frame 80 ms)."""
    frames = gif_frames(scenes, size)
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0, disposal=1
    )
    return buffer.getvalue()


def one_scene_gif(background: str, shape: str, colour: str, frames: int = 6) -> bytes:
    """Return a GIF of one shape moving over one background."""
    return make_gif([Scene(background, shape, colour, frames)])


SET_OF_GIFS = {  # file name -> GIF: four different looking GIFs
    "red-circle.gif": one_scene_gif("white", "circle", "red"),
    "blue-square.gif": one_scene_gif("yellow", "square", "blue"),
    "green-triangle.gif": one_scene_gif("black", "triangle", "green"),
    "two-scenes.gif": make_gif(
        [Scene("purple", "bar", "white", 4), Scene("orange", "circle", "black", 4)]
    ),
}


def write_gif_folder(folder: Path) -> Path:
    """Fill folder with four GIF files (one in a sub-folder) and a file that is not a GIF."""
    (folder / "more").mkdir(parents=True)
    for number, (name, data) in enumerate(SET_OF_GIFS.items()):
        (folder / ("more" if number == 3 else "") / name).write_bytes(data)
    (folder / "notes.txt").write_text("not a GIF")
    return folder


@pytest.fixture
def gif_folder(tmp_path: Path) -> Path:
    """A folder of four GIF files (one in a sub-folder) and a file that is not a GIF."""
    return write_gif_folder(tmp_path / "gifs")


@pytest.fixture
def clip_settings(settings: Settings, tiny_clip_dir: Path) -> Settings:
    """The test's settings (embedded store or server) with the tiny CLIP as model."""
    return replace(settings, model=str(tiny_clip_dir), precision="fp32")


def tiny_clip_settings(root: Path, tiny_clip_dir: Path) -> Settings:
    """Settings for an embedded store under root with the tiny CLIP as model."""
    return Settings(
        store_dir=root / "store",
        cache_dir=root / "cache",
        model=str(tiny_clip_dir),
        device="cpu",
        precision="fp32",
        network_timeout_s=2.0,
        allow_private_urls=True,  # the tests' GIF servers are on 127.0.0.1
    )


@pytest.fixture
def embedded_clip_settings(tmp_path: Path, tiny_clip_dir: Path) -> Settings:
    """Settings for an embedded store in tmp_path with the tiny CLIP as model."""
    return tiny_clip_settings(tmp_path, tiny_clip_dir)


def redirect(location: str) -> Route:
    """A route answering 302 to location."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def gif_route(data: bytes, content_type: str | None = "image/gif") -> Route:
    """A route serving data with content_type (None: no Content-Type header)."""
    return body_route(data, content_type=content_type)


def slow_route(data: bytes, delay_s: float) -> Route:
    """A route that waits delay_s before answering at all."""
    return body_route(data, delay_s, content_type="image/gif")


def trickle_route(data: bytes, every_s: float) -> Route:
    """A route that sends its headers, then one byte every every_s (never idle for long)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/gif")
        handler.send_header("Content-Length", str(len(data) * 100))
        handler.end_headers()
        try:
            for byte in data * 100:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(every_s)
        except OSError:
            return  # the client hung up, as it should

    return route


def trickle_headers_route(every_s: float) -> Route:
    """A route that never finishes its headers: one header byte every every_s."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(10_000):
                handler.wfile.write(b"a")
                handler.wfile.flush()
                time.sleep(every_s)
        except OSError:
            return

    return route


def endless_route(declare_length: bool) -> Route:
    """A route streaming GIF-looking bytes without end (with or without a huge length)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/gif")
        if declare_length:
            handler.send_header("Content-Length", str(10**12))
        handler.end_headers()
        try:
            handler.wfile.write(b"GIF89a")
            chunk = b"\0" * 65536
            for _ in range(10_000):
                handler.wfile.write(chunk)
        except OSError:
            return

    return route
