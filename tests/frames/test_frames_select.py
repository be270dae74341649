"""Frame selection: first/middle/last vs most different, on GIFs drawn with Pillow."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from search_app.embedders.frames import (
    MAX_KEPT_SIDE_PX,
    choose_even,
    open_image,
    query_frames,
    select_frames,
)
from search_app.errors import ConfigError, ImageReadError
from tests.frames.conftest import COLOURS, SHAPES, Scene, gif_frames, make_gif

BACKGROUNDS = list(COLOURS)


def random_scenes(rng: random.Random) -> list[Scene]:
    """Two to four scenes of 1 to 12 frames, each a different background and shape."""
    backgrounds = rng.sample(BACKGROUNDS, rng.randint(2, 4))
    scenes = []
    for background in backgrounds:
        colour = rng.choice([c for c in BACKGROUNDS if c != background])
        scenes.append(Scene(background, rng.choice(SHAPES), colour, rng.randint(1, 12)))
    return scenes


def scenes_covered(scenes: list[Scene], indices: tuple[int, ...]) -> int:
    """Return how many scenes have at least one picked frame."""
    owner = [number for number, scene in enumerate(scenes) for _ in range(scene.frames)]
    return len({owner[i] for i in indices})


@pytest.mark.parametrize(
    ("total", "count", "expected"),
    [
        (1, 3, [0]),
        (3, 3, [0, 1, 2]),
        (10, 3, [0, 4, 9]),
        (10, 1, [4]),
        (20, 4, [0, 6, 13, 19]),
    ],
    ids=["one-frame", "as-many-as-asked", "first-middle-last", "middle-only", "four"],
)
def test_even_picks_first_middle_last(total: int, count: int, expected: list[int]) -> None:
    assert choose_even(total, count) == expected


def test_diverse_covers_more_scenes_than_first_middle_last() -> None:
    """The measurement behind the default: 40 GIFs with 2-4 scenes of uneven length."""
    rng = random.Random(7)
    totals = {"diverse": 0, "even": 0}
    for _ in range(40):
        scenes = random_scenes(rng)
        data = make_gif(scenes)
        best = min(3, len(scenes))
        covered = {}
        for strategy in totals:
            picked = select_frames(open_image(data), strategy, 3)
            covered[strategy] = scenes_covered(scenes, picked.indices)
            totals[strategy] += covered[strategy]
        assert covered["diverse"] == best  # every scene up to 3, however short
        assert covered["diverse"] >= covered["even"]
    assert totals["diverse"] > totals["even"]


def test_a_short_scene_in_the_middle_is_found_only_by_diverse() -> None:
    scenes = [
        Scene("white", "circle", "red", 10),
        Scene("black", "square", "yellow", 2),
        Scene("white", "circle", "red", 14),
    ]
    data = make_gif(scenes)
    diverse = select_frames(open_image(data), "diverse", 3)
    even = select_frames(open_image(data), "even", 3)
    assert set(diverse.indices) & {10, 11}
    assert even.indices == (0, 12, 25)


def test_a_still_gif_gives_one_frame_with_diverse() -> None:
    frames = [Image.new("RGB", (64, 48), "white") for _ in range(5)]
    for step, frame in enumerate(frames):  # one pixel changes: Pillow keeps every frame
        frame.putpixel((step, 0), (250, 250, 250))
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=80)
    picked = select_frames(open_image(buffer.getvalue()), "diverse", 3)
    assert picked.frame_count == 5 and len(picked.indices) == 1
    assert len(select_frames(open_image(buffer.getvalue()), "even", 3).indices) == 3


def test_picked_frames_are_the_gifs_frames_in_rgb() -> None:
    scenes = [Scene("white", "circle", "red", 4), Scene("black", "square", "blue", 4)]
    expected = gif_frames(scenes)
    picked = select_frames(open_image(make_gif(scenes)), "diverse", 2)
    for index, image in zip(picked.indices, picked.images, strict=True):
        assert image.mode == "RGB" and image.size == expected[index].size
        # GIF palettes shift colours a little; the picked frame is the drawn one
        pixel, drawn = image.getpixel((1, 1)), expected[index].getpixel((1, 1))
        assert all(abs(a - b) <= 8 for a, b in zip(pixel, drawn, strict=True))


def test_big_frames_are_shrunk_to_fit() -> None:
    data = make_gif([Scene("white", "circle", "red", 2)], size=(1200, 600))
    picked = select_frames(open_image(data), "even", 2)
    assert all(max(image.size) == MAX_KEPT_SIDE_PX for image in picked.images)


def test_an_animated_query_is_its_picked_frames_a_still_one_itself() -> None:
    animated = open_image(make_gif([Scene("white", "circle", "red", 3)] * 2))
    assert len(query_frames(animated)) >= 2
    still = Image.new("RGB", (40, 30), "red")
    assert len(query_frames(still)) == 1


def test_a_truncated_gif_keeps_its_good_frames() -> None:
    data = make_gif([Scene("white", "circle", "red", 10), Scene("black", "square", "blue", 10)])
    picked = select_frames(open_image(data[: len(data) // 2]), "diverse", 3)
    assert 1 <= picked.frame_count < 20 and picked.images


def canvas_gif(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (width, height)).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GIF89a this is not really a GIF", "decode_error"),
        (b"<html>hello</html>", "decode_error"),
        (canvas_gif(5000, 5000), "too_large"),
    ],
    ids=["broken-gif", "html", "huge-canvas"],
)
def test_unreadable_images_raise_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageReadError) as caught:
        select_frames(open_image(data), "diverse", 3)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("strategy", "count", "message"),
    [("random", 3, "'random' is not one of diverse, even"), ("even", 0, "use 1 to 16")],
    ids=["unknown-strategy", "zero-frames"],
)
def test_bad_frame_options_quote_the_value(strategy: str, count: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        select_frames(Image.new("RGB", (8, 8)), strategy, count)
