"""Hostile answers for download tests and benchmarks/bomb_rss.py: compression bombs in each
encoding a client may be sent (alone and stacked), and routes that serve them."""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from http.server import BaseHTTPRequestHandler

import brotli

from tests.local_http import Route

BOMB_BYTES = 64 * 1024 * 1024  # what a bomb unpacks to: the 64 MiB
GIF_PREFIX = b"GIF89a\x40\x01\xf0\x00"  # a GIF header (320 x 240), then zeros
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame's start; zstd is never offered or unpacked


def encode(data: bytes, encoding: str) -> bytes:
    """Return data in one Content-Encoding: gzip, deflate (zlib-wrapped), raw-deflate
    (what some servers send as deflate), br."""
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9)
    if encoding == "deflate":
        return zlib.compress(data, 9)
    if encoding == "raw-deflate":
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return packer.compress(data) + packer.flush()
    if encoding == "br":
        return bytes(brotli.compress(data, quality=5))
    raise ValueError(encoding)


@functools.cache
def bomb(encodings: tuple[str, ...], prefix: bytes = b"", size: int = BOMB_BYTES) -> bytes:
    """prefix then zeros, size bytes in all, encoded with each encoding in turn (the
    Content-Encoding header lists them in that order)."""
    body = prefix + bytes(size - len(prefix))
    for encoding in encodings:
        body = encode(body, encoding)
    return body


# name -> (Content-Encoding header, encodings applied): every encoding, alone and stacked
BOMBS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gzip": ("gzip", ("gzip",)),
    "x-gzip": ("x-gzip", ("gzip",)),
    "deflate": ("deflate", ("deflate",)),
    "raw-deflate": ("deflate", ("raw-deflate",)),
    "br": ("br", ("br",)),
    "gzip-gzip": ("gzip, gzip", ("gzip", "gzip")),
    "br-gzip": ("br, gzip", ("br", "gzip")),
    "gzip-identity-gzip": ("gzip, identity, gzip", ("gzip", "gzip")),
}


def bomb_body(name: str, prefix: bytes = b"", size: int = BOMB_BYTES) -> tuple[str, bytes]:
    """Return (Content-Encoding header, body) of one of BOMBS."""
    header, encodings = BOMBS[name]
    return header, bomb(encodings, prefix, size)


def zstd_body() -> bytes:
    """A body labelled zstd: refused by its header alone, so its bytes never matter."""
    return ZSTD_MAGIC + os.urandom(60)


def encoded_route(body: bytes, content_encoding: str, content_type: str = "image/gif") -> Route:
    """A route answering 200 with body as it is, labelled with content_encoding."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Encoding", content_encoding)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except OSError:
            return  # the client stopped reading, as it should

    return route


def no_location(handler: BaseHTTPRequestHandler) -> None:
    """A redirect that says nowhere to go."""
    handler.send_response(302)
    handler.send_header("Content-Length", "0")
    handler.end_headers()
