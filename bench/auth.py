"""Authenticated requests per second against a real engine process: Basic auth, then a Bearer token.

Keep-alive connections (one aiohttp session, ``--connections`` of them), each looping on one request for
``--seconds``. The first Basic request pays for argon2; every later one hits the verified-credentials
cache. The public status route (no authentication) is measured too, as the ceiling of the web server.
By default two authenticated routes are measured: ``/metrics`` (what a scraper polls) and
``GET /api/users/current-user`` (the lightest API route); ``--path`` (repeatable) chooses others.

    .venv/bin/python bench/auth.py [--seconds 5] [--connections 8] [--path /metrics --path /api/...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from engine_process import AUTH, EngineProcess

DEFAULT_PATHS = ["/metrics", "/api/users/current-user"]


async def _rate(url: str, headers: dict[str, str], *, seconds: float, connections: int) -> tuple[float, int]:
    """Requests per second over ``seconds`` with ``connections`` keep-alive connections; and the failures."""
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm up: open the connections, and let the first Basic request pay for argon2.
        for response in await asyncio.gather(*(session.get(url, headers=headers) for _ in range(connections))):
            await response.read()
        done = failed = 0
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal done, failed
            while time.perf_counter() < deadline:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    if response.status >= 400:
                        failed += 1
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(connections)))
        return done / (time.perf_counter() - started), failed


async def _password_change_refused(url: str, token: str) -> str:
    """Change the password while the old pair is cached; the very next request with it must be refused."""
    async with aiohttp.ClientSession(headers={"Authorization": AUTH}) as session:
        async with session.get(f"{url}/api/users/current-user") as response:
            user_id = (await response.json())["id"]
        body = {"currentPassword": "pass", "newPassword": "changed-pass"}
        async with session.post(f"{url}/api/users/{user_id}/password", json=body) as response:
            assert response.status == 204, await response.text()
        async with session.get(f"{url}/metrics") as old_pair:
            pass
        async with session.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}) as old_token:
            pass
    return f"after a password change: old Basic pair -> {old_pair.status}, old token -> {old_token.status}"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = EngineProcess(Path(folder) / "data", log_level="error").start()
        try:
            login = f"{engine.url}/api/users/authentication"
            async with aiohttp.ClientSession() as session, session.post(login, headers={"Authorization": AUTH}) as r:
                assert r.status == 200, await r.text()
                token = (await r.json())["access_token"]
            runs: list[tuple[str, str, dict[str, str]]] = [
                ("no authentication (public /api/engine/status)", "/api/engine/status", {})
            ]
            for path in args.path or DEFAULT_PATHS:
                runs.append((f"Basic auth ({path})", path, {"Authorization": AUTH}))
                runs.append((f"Bearer token ({path})", path, {"Authorization": f"Bearer {token}"}))
            print(f"{args.connections} keep-alive connections, {args.seconds:g} s per run, data in {folder}")
            for label, path, headers in runs:
                rate, failed = await _rate(
                    f"{engine.url}{path}", headers, seconds=args.seconds, connections=args.connections
                )
                print(f"{label:<56} {rate:8.0f} requests/s" + (f"  ({failed} failed)" if failed else ""))
            print(await _password_change_refused(engine.url, token))
        finally:
            engine.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--path", action="append", help=f"an authenticated GET route (default: {DEFAULT_PATHS})")
    asyncio.run(main(parser.parse_args()))
