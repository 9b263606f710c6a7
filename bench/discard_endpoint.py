#!/usr/bin/env python3
"""A bulk endpoint that accepts every document and keeps none: the benchmark's stand-in engine.

It answers `GET /` like an engine and `POST /_bulk` like Elasticsearch does when every `create`
succeeds (errors false, one 201 item per document), and counts what it received so the benchmark
can check nothing went missing. `GET /_stats/discard` returns the counts, and `last_bulk_at`: the
`time.monotonic()` (CLOCK_MONOTONIC, one clock for every process of the host) at which the last
bulk request was counted, so a benchmark can time a shipper that never exits. With `--reject F` it
answers like a busy cluster instead: a random share F of the items of each request is refused
with 429 `es_rejected_execution_exception` (and not counted), the rest accepted.

    python bench/discard_endpoint.py --port 9299 [--reject 0.2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time

from aiohttp import web

_ITEM = b'{"create":{"_index":"discard","_id":"x","_version":1,"result":"created","status":201}}'
_REJECTED = (
    b'{"create":{"_index":"discard","_id":"x","status":429,"error":{"type":"es_rejected_execution_exception",'
    b'"reason":"rejected execution of coordinating operation"}}}'
)


def app(reject: float = 0.0) -> web.Application:
    stats: dict[str, float] = {"requests": 0, "documents": 0, "bytes": 0, "rejected": 0, "last_bulk_at": 0.0}
    draw = random.Random(1).random

    async def bulk(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        docs = body.count(b"\n") // 2
        stats["requests"] += 1
        stats["bytes"] += len(body)
        stats["last_bulk_at"] = time.monotonic()
        if not reject:
            stats["documents"] += docs
            payload = b'{"took":1,"errors":false,"items":[' + b",".join([_ITEM] * docs) + b"]}"
            return web.Response(body=payload, content_type="application/json")
        items = [_REJECTED if draw() < reject else _ITEM for _ in range(docs)]
        refused = items.count(_REJECTED)
        stats["documents"] += docs - refused
        stats["rejected"] += refused
        errors = b"true" if refused else b"false"
        payload = b'{"took":1,"errors":' + errors + b',"items":[' + b",".join(items) + b"]}"
        return web.Response(body=payload, content_type="application/json")

    async def root(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": "discard",
                "cluster_name": "bench",
                "version": {"number": "9.0.0", "distribution": "discard"},
            },
            headers={"X-Elastic-Product": "Elasticsearch"},
        )

    async def counts(request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(stats), content_type="application/json")

    application = web.Application(client_max_size=512 * 1024 * 1024)
    application.router.add_post("/_bulk", bulk)
    application.router.add_get("/", root)
    application.router.add_get("/_stats/discard", counts)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9299)
    parser.add_argument("--reject", type=float, default=0.0, help="share of items refused with 429")
    args = parser.parse_args()
    web.run_app(app(args.reject), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
