"""Reading an engine's answer within a bound, never whole before it is known to fit.

A proxy or a broken node may answer with a body of any size: a huge Content-Length, an endless
chunked body, or a small gzip body that expands a thousandfold. The body is read in chunks with a
running count and gzip is decompressed incrementally with an output limit, so memory stays within
`elasticsearch.max_answer_bytes` (plus one chunk) whatever is sent. Beyond it the request fails as
a bad answer (BadAnswer), which the callers retry like a 5xx.
"""

from __future__ import annotations

import zlib

import aiohttp

from logship.errors import BadAnswer

__all__ = ["read_bounded"]

_CHUNK = 256 << 10


def _too_large(name: str, what: str, limit: int) -> BadAnswer:
    return BadAnswer(
        f"answer too large: {name} sent {what} over {limit} bytes (`elasticsearch.max_answer_bytes`); "
        "a proxy or load balancer in front of the engine may be answering instead of it"
    )


async def read_bounded(response: aiohttp.ClientResponse, limit: int, name: str) -> bytes:
    """The body of ``response``, decompressed if gzip; BadAnswer past ``limit`` bytes either way."""
    length = response.content_length
    if length is not None and length > limit:
        response.close()  # the rest is not read: the connection cannot be kept
        raise _too_large(name, f"a Content-Length of {length}", limit)
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    zipped = encoding in ("gzip", "x-gzip")
    if encoding and encoding != "identity" and not zipped:
        response.close()
        raise BadAnswer(f"bad answer: {name} sent a body encoded as {encoding!r}, which logship cannot read")
    if length is not None and not zipped:
        return await response.read()  # exactly `length` bytes, which fit
    unpack = zlib.decompressobj(47) if zipped else None  # 47: a gzip or zlib header
    parts: list[bytes] = []
    received = size = 0
    while chunk := await response.content.read(_CHUNK):
        received += len(chunk)
        if received > limit:
            response.close()
            raise _too_large(name, "a body", limit)
        if unpack is None:
            parts.append(chunk)
            continue
        while chunk:  # in steps of _CHUNK, so that no step allocates much beyond the bound
            try:
                piece = unpack.decompress(chunk, min(_CHUNK, limit - size + 1))
            except zlib.error as exc:
                response.close()
                why = f"bad answer: {name} sent a gzip body that does not decompress ({exc})"
                raise BadAnswer(why) from exc
            size += len(piece)
            if size > limit:
                response.close()
                raise _too_large(name, "a gzip body expanding", limit)
            parts.append(piece)
            chunk = unpack.unconsumed_tail
    if unpack is not None and received and not unpack.eof:
        raise BadAnswer(f"bad answer: {name} sent a gzip body that ends early")
    return b"".join(parts)
