"""CLIP image preprocessing in PIL + numpy, step for step as transformers' CLIPImageProcessor.

It mirrors the PIL backend (CLIPImageProcessorPil, what transformers 5 uses without
torchvision): convert to RGB compositing transparency onto white, resize the shortest edge
with the configured resample filter, center crop (zero-padding an image smaller than the
crop), rescale in float64 then cast to float32, normalize by mean/std, channels first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ImagePreprocessing:
    """The preprocessor config of a CLIP model: how a PIL image becomes pixel_values.

    Resizing uses shortest_edge when set, else height x width.
    """

    do_convert_rgb: bool
    do_resize: bool
    shortest_edge: int | None
    height: int | None
    width: int | None
    resample: int
    do_center_crop: bool
    crop_height: int
    crop_width: int
    do_rescale: bool
    rescale_factor: float
    do_normalize: bool
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dict (the manifest's image_preprocessing)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImagePreprocessing:
        """Rebuild the parameters from to_dict's output; raise ValueError when malformed."""
        try:
            params = cls(
                do_convert_rgb=bool(data["do_convert_rgb"]),
                do_resize=bool(data["do_resize"]),
                shortest_edge=_optional_int(data["shortest_edge"]),
                height=_optional_int(data["height"]),
                width=_optional_int(data["width"]),
                resample=int(data["resample"]),
                do_center_crop=bool(data["do_center_crop"]),
                crop_height=int(data["crop_height"]),
                crop_width=int(data["crop_width"]),
                do_rescale=bool(data["do_rescale"]),
                rescale_factor=float(data["rescale_factor"]),
                do_normalize=bool(data["do_normalize"]),
                image_mean=three_floats(data["image_mean"]),
                image_std=three_floats(data["image_std"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad image preprocessing parameters: {exc!r}") from exc
        if (
            params.do_resize
            and params.shortest_edge is None
            and not (params.height and params.width)
        ):
            raise ValueError("bad image preprocessing parameters: resize without a size")
        return params


def _optional_int(value: Any) -> int | None:  # a parsed JSON value: int() checks it
    return None if value is None else int(value)


def three_floats(values: Sequence[float]) -> tuple[float, float, float]:
    """Return the three channel values (mean or std); raise ValueError for another count."""
    if len(values) != 3:
        raise ValueError(f"expected 3 channel values, got {list(values)!r}")
    return (float(values[0]), float(values[1]), float(values[2]))


def to_rgb(image: Image.Image) -> Image.Image:
    """Return image as RGB, compositing any transparency onto white (as transformers does)."""
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resized_size(height: int, width: int, params: ImagePreprocessing) -> tuple[int, int]:
    """Return the (height, width) the resize step produces for an image of height x width."""
    if params.shortest_edge is None:
        return (int(params.height or height), int(params.width or width))
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = params.shortest_edge, int(params.shortest_edge * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def center_crop(pixels: np.ndarray, crop_height: int, crop_width: int) -> np.ndarray:
    """Crop a (C, H, W) array to crop_height x crop_width around its center, zero-padding
    an array smaller than the crop."""
    height, width = pixels.shape[-2:]
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    if top >= 0 and left >= 0:
        return pixels[..., top : top + crop_height, left : left + crop_width]
    padded_height, padded_width = max(crop_height, height), max(crop_width, width)
    padded = np.zeros((*pixels.shape[:-2], padded_height, padded_width), dtype=pixels.dtype)
    top_pad = math.ceil((padded_height - height) / 2)
    left_pad = math.ceil((padded_width - width) / 2)
    padded[..., top_pad : top_pad + height, left_pad : left_pad + width] = pixels
    top = (padded_height - crop_height) // 2
    left = (padded_width - crop_width) // 2
    return padded[..., top : top + crop_height, left : left + crop_width]


def preprocess_image(image: Image.Image, params: ImagePreprocessing) -> np.ndarray:
    """Turn one PIL image into a (3, crop_height, crop_width) float32 array of pixel values."""
    if params.do_convert_rgb:
        image = to_rgb(image)
    if params.do_resize:
        height, width = resized_size(image.height, image.width, params)
        image = image.resize((width, height), resample=params.resample)
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    pixels = np.moveaxis(pixels, -1, 0)
    if params.do_center_crop:
        pixels = center_crop(pixels, params.crop_height, params.crop_width)
    if params.do_rescale:  # transformers upcasts to float64 first, then casts to float32
        pixels = (pixels.astype(np.float64) * params.rescale_factor).astype(np.float32)
    else:
        pixels = pixels.astype(np.float32)
    if params.do_normalize:
        mean = np.asarray(params.image_mean, dtype=np.float32)[:, None, None]
        std = np.asarray(params.image_std, dtype=np.float32)[:, None, None]
        pixels = (pixels - mean) / std
    return np.ascontiguousarray(pixels, dtype=np.float32)


def pixel_batch(images: Sequence[Image.Image], params: ImagePreprocessing) -> np.ndarray:
    """Preprocess images into one (n, 3, crop_height, crop_width) float32 batch."""
    return np.stack([preprocess_image(image, params) for image in images])
