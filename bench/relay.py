"""OIBus to OIBus throughput, and the built-in proxy's.

1. Two real engines: values posted to the OT engine's ingestion API (``--batches`` of ``--size``) go through
   its ``oibus`` North to the IT engine, whose file-writer writes them. Prints how fast OT accepted them
   (stored in its cache) and how fast they were all written on the IT side, end to end.
2. The proxy in-process: one ``--megabytes`` download from an aiohttp server through a CONNECT tunnel (HTTPS)
   and through plain HTTP forwarding.

    .venv/bin/python bench/relay.py [--batches 100] [--size 1000] [--megabytes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from engine_process import EngineProcess, api_rule, batch, north_body, post_values, scan_mode_id, wait_for
from servers.tls import self_signed

from engine.proxy import ProxyServer, ProxySpec


def _count(folder: Path) -> int:
    total = 0
    for path in folder.glob("*.json"):
        try:
            total += len(json.loads(path.read_bytes()))
        except ValueError:
            continue  # being written
    return total


def relay(args: argparse.Namespace, folder: Path) -> None:
    out = folder / "out"
    out.mkdir()
    it = EngineProcess(folder / "it", log_level="error").start()
    ot = EngineProcess(folder / "ot", log_level="error").start()
    try:
        settings = {"outputFolder": str(out), "prefix": "", "suffix": ""}
        writer = north_body("archive", "file-writer", settings, scan_mode_id(it, "Every second"))
        it.wait_state(
            "north", it.ok("POST", "/api/north", {**writer, "transformers": [api_rule("ToIT")]})["id"], "RUNNING"
        )
        sender = north_body(
            "ToIT",
            "oibus",
            {"host": it.url, "username": "admin", "password": "pass"},
            scan_mode_id(ot, "Every second"),
            transformers=[api_rule("bench")],
        )
        ot.wait_state("north", ot.ok("POST", "/api/north", sender)["id"], "RUNNING")
        total = args.batches * args.size
        started = time.perf_counter()
        for index in range(args.batches):
            assert post_values(ot, batch(index * args.size, args.size), "bench") == 204
        accepted = time.perf_counter() - started
        wait_for(lambda: _count(out) >= total, 600, "every value written on the IT side", poll_s=0.05)
        delivered = time.perf_counter() - started
        print(f"OT accepted {total} values in {args.batches} batches: {total / accepted:,.0f} values/s")
        print(f"OT -> IT -> file-writer, end to end: {total / delivered:,.0f} values/s ({delivered:.2f} s)")
    finally:
        ot.stop()
        it.stop()


async def proxy(args: argparse.Namespace, folder: Path) -> None:
    payload = b"x" * (args.megabytes * 1024 * 1024)

    async def download(_: web.Request) -> web.Response:
        return web.Response(body=payload)

    tls = self_signed(folder / "tls")
    app = web.Application()
    app.router.add_get("/data", download)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sites = {
        "http": web.TCPSite(runner, "127.0.0.1", 0),
        "https": web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context()),
    }
    for site in sites.values():
        await site.start()
    server = ProxyServer(ProxySpec(port=0, host="127.0.0.1"), lambda _: True)
    await server.start()
    try:
        connector = aiohttp.TCPConnector(ssl=tls.client_context())
        async with aiohttp.ClientSession(connector=connector) as session:
            for scheme, site in sites.items():
                port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                host = "localhost" if scheme == "https" else "127.0.0.1"
                started = time.perf_counter()
                async with session.get(f"{scheme}://{host}:{port}/data", proxy=f"http://127.0.0.1:{server.port}") as r:
                    size = len(await r.read())
                elapsed = time.perf_counter() - started
                how = "CONNECT tunnel (HTTPS)" if scheme == "https" else "HTTP forwarding"
                print(f"proxy, {how}: {size / elapsed / 1e6:,.0f} MB/s ({size // (1024 * 1024)} MiB)")
    finally:
        await server.close()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--megabytes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        relay(args, Path(folder))
        asyncio.run(proxy(args, Path(folder)))


if __name__ == "__main__":
    main()
