"""Bounded Content-Encoding decoding: a body's raw bytes in, decoded pieces of at most a
given size out, so a compression bomb is never unpacked further than its reader asks.

httpx's own decoders unpack each raw chunk whole (119 bytes of brotli became 64 MiB in one
call), and decode stacked encodings ("gzip, gzip") one inside the other. Here each step's
output is capped (zlib's max_length, brotli's output_buffer_limit) and at most one
encoding is taken: the reader counts the decoded bytes as they come and stops at its cap.
Only what ACCEPT_ENCODING offers is decoded; anything else is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

IDENTITY = "identity"
ZLIB_HEADER_BYTES = 2  # zlib judges its header on these
MAX_ENCODINGS = 1  # a body compressed twice is refused: nothing needs it, bombs use it


class EncodingError(Exception):
    """A body in an encoding we didn't offer, stacked encodings, or a damaged stream."""


def _brotli_module() -> Any:
    """The brotli binding, when it can cap each step's output (brotli 1.2+), else None."""
    try:
        import brotli
    except ImportError:
        return None
    can_cap = hasattr(brotli.Decompressor(), "can_accept_more_data")
    return brotli if can_cap else None


BROTLI = _brotli_module()
ACCEPT_ENCODING = "gzip, deflate, br" if BROTLI is not None else "gzip, deflate"
OFFERED = tuple(part.strip() for part in ACCEPT_ENCODING.split(","))


def body_encoding(header: str) -> str:
    """Return the one encoding a Content-Encoding header names ("identity" for none);
    raise EncodingError for stacked, unknown or unoffered ones."""
    names = [part.strip().lower() for part in header.split(",")]
    names = [name for name in names if name and name != IDENTITY]
    if len(names) > MAX_ENCODINGS:
        raise EncodingError(f"stacked encodings ({', '.join(names)[:60]}) are refused")
    if not names:
        return IDENTITY
    name = {"x-gzip": "gzip"}.get(names[0], names[0])
    if name not in OFFERED:
        raise EncodingError(f"encoding {name[:30]!r} was not offered ({ACCEPT_ENCODING})")
    return name


def decoded_pieces(raw: Iterable[bytes], encoding: str, piece_bytes: int) -> Iterator[bytes]:
    """Yield the body of raw chunks decoded, in pieces of about piece_bytes at most.

    Stopping the iteration stops the decoding: nothing past the last piece is unpacked.
    """
    if encoding == IDENTITY:
        for chunk in raw:
            for start in range(0, len(chunk), piece_bytes):
                yield chunk[start : start + piece_bytes]
    elif encoding == "br":
        yield from _brotli_pieces(raw, piece_bytes)
    else:
        yield from _zlib_pieces(raw, encoding, piece_bytes)


def _zlib_pieces(raw: Iterable[bytes], encoding: str, piece_bytes: int) -> Iterator[bytes]:
    # gzip; deflate is zlib-wrapped by the standard, raw by some servers (as httpx allows)
    wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
    decompressor = zlib.decompressobj(wbits)
    first = True  # a deflate body whose first bytes are no zlib header is raw deflate
    for chunk in _joined_head(raw, ZLIB_HEADER_BYTES):
        pending = chunk
        while pending:
            try:
                piece = decompressor.decompress(pending, piece_bytes)
            except zlib.error as exc:
                if first and encoding == "deflate":
                    decompressor, first = zlib.decompressobj(-zlib.MAX_WBITS), False
                    continue
                raise EncodingError(f"the {encoding} body is damaged ({exc})") from None
            first = False
            if piece:
                yield piece
            if decompressor.eof:
                return  # bytes after the stream's end are ignored, as httpx does
            pending = decompressor.unconsumed_tail
            while not pending and len(piece) == piece_bytes:  # zlib may hold more output
                piece = decompressor.decompress(b"", piece_bytes)
                if piece:
                    yield piece


def _joined_head(raw: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The chunks, the first of them holding at least size bytes (when there are as many)."""
    chunks = iter(raw)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break
    if head:
        yield head
    yield from chunks


def _brotli_pieces(raw: Iterable[bytes], piece_bytes: int) -> Iterator[bytes]:
    decompressor = BROTLI.Decompressor()
    try:
        for chunk in raw:
            # A capped step may leave output behind even once the input is taken in:
            # it comes out of further empty steps, until one gives nothing.
            piece = bytes(decompressor.process(chunk, output_buffer_limit=piece_bytes))
            while piece:
                yield piece
                piece = bytes(decompressor.process(b"", output_buffer_limit=piece_bytes))
            if decompressor.is_finished():
                return
    except BROTLI.error as exc:
        raise EncodingError(f"the br body is damaged ({exc})") from None
