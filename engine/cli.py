"""``oibus``: the engine process. Parses the upstream command line, opens the data folder, serves.

Startup order keeps the API quick to answer: open the store, listen, then start the connectors.
SIGINT/SIGTERM stop it gracefully: stop listening, stop Souths, let Norths flush, close the store.
``POST /api/engine/restart`` stops it the same way; the exit code is 0 either way (the launcher restarts
an engine that exits 0 on its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from engine.paths import default_data_dir
from engine.version import engine_version

if TYPE_CHECKING:
    from engine.config.store import ConfigStore
    from engine.logs import LogPipeline
    from engine.metrics import MetricsStore

log = structlog.get_logger("engine")


def _flag(value: str | None) -> bool:
    """Upstream's minimist flags: ``--flag``, ``--flag true``, ``--flag false``."""
    if value is None:
        return True
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def parse(argv: list[str]) -> argparse.Namespace:
    """The engine's command line (upstream's camelCase flags)."""
    parser = argparse.ArgumentParser(prog="oibus", description="OIBus engine")
    parser.add_argument("--config", help="data folder (default: the platform's data folder for OIBus)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--ignoreIpFilters", nargs="?", const=None, default=False, type=_flag, metavar="BOOL")
    parser.add_argument("--ignoreRemoteUpdate", nargs="?", const=None, default=False, type=_flag, metavar="BOOL")
    parser.add_argument("--ignoreRemoteConfig", nargs="?", const=None, default=False, type=_flag, metavar="BOOL")
    parser.add_argument("--launcherVersion", default="", help="set by the launcher")
    parser.add_argument("--safe-mode", action="store_true", help="start without connectors (set by the launcher)")
    parser.add_argument(
        "--reset-admin-password", action="store_true", help="make user admin log in with 'pass', then exit"
    )
    args = parser.parse_args(argv)
    # nargs="?" with const=None gives None for a bare flag: that means true.
    for name in ("ignoreIpFilters", "ignoreRemoteUpdate", "ignoreRemoteConfig"):
        if getattr(args, name) is None:
            setattr(args, name, True)
    return args


async def serve(args: argparse.Namespace, data_dir: Path) -> int:
    """Run the engine until a stop signal; return the exit code. The log pipeline closes last."""
    from engine.config.provisioning import read_init_settings
    from engine.config.store import ConfigStore
    from engine.logs import configure as configure_logs
    from engine.metrics import MetricsStore

    init = read_init_settings(data_dir)
    store = ConfigStore.open(data_dir, init=init, launcher_version=args.launcherVersion or None)
    settings = store.engine_settings()
    logs = configure_logs(
        settings.logger, data_dir, settings.general.name, console_level=os.environ.get("OIBUS_LOG_LEVEL")
    )
    try:
        # Closed after the API and the engine: the last reports of the workers are written too.
        async with MetricsStore.open(data_dir) as metrics:
            metrics.prune("south", [south.id for south in store.list_souths()])
            metrics.prune("north", [north.id for north in store.list_norths()])
            return await _serve(args, data_dir, store, logs, metrics)
    finally:
        store.close()
        log.info("stopped")
        await asyncio.to_thread(logs.close)


async def _serve(
    args: argparse.Namespace, data_dir: Path, store: ConfigStore, logs: LogPipeline, metrics: MetricsStore
) -> int:
    """Listen, start the connectors, and wait for a stop signal (or ``POST /api/engine/restart``)."""
    from engine.api.app import create_app
    from engine.api.content import routes as content_routes
    from engine.api.info import EngineInfo
    from engine.api.keys import LOG_PIPELINE, LOGS, STOP_ENGINE
    from engine.api.metrics import routes as metrics_routes
    from engine.api.routes_logs import routes as logs_routes
    from engine.api.routes_metrics import routes as metrics_reset_routes
    from engine.api.routes_restart import routes as restart_routes
    from engine.api.routes_sse import install as install_live_streams
    from engine.api.routes_sse import routes as sse_routes
    from engine.config.provisioning import delete_init_file
    from engine.config_source import StoreConfigSource
    from engine.engine import Engine
    from engine.logs import LogStore

    settings = store.engine_settings()
    engine = Engine(data_dir, StoreConfigSource(store), safe_mode=args.safe_mode)

    def apply_settings() -> None:
        current = store.engine_settings()  # decrypted: the Loki password is needed
        logs.apply(current.logger, engine_name=current.general.name)

    engine.settings_listeners.append(apply_settings)
    engine.metrics_listeners.append(metrics.record)
    engine.worker_start_listeners.append(metrics.worker_started)
    info = EngineInfo(
        data_directory=data_dir,
        launcher_version=args.launcherVersion,
        ignore_ip_filters=args.ignoreIpFilters,
        ignore_remote_update=args.ignoreRemoteUpdate,
    )
    app = create_app(
        store,
        engine,
        info,
        extra_routes=[content_routes, metrics_routes, logs_routes, metrics_reset_routes, sse_routes, restart_routes],
    )
    app[LOGS] = LogStore(data_dir)
    app[LOG_PIPELINE] = logs
    install_live_streams(app, metrics)
    # Set by a signal or by POST /api/engine/restart: both stop gracefully and exit 0.
    stop = asyncio.Event()
    app[STOP_ENGINE] = stop
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    port = settings.web_server.port
    site = web.TCPSite(runner, host=None, port=port, reuse_address=True)
    try:
        await site.start()
    except OSError as err:
        log.error("cannot listen", port=port, error=str(err))
        await runner.cleanup()
        return 1
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    else:  # pragma: no cover - Windows: Ctrl-C / Ctrl-Break arrive as SIGINT / SIGBREAK
        signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(stop.set))
        signal.signal(signal.SIGBREAK, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        async with asyncio.TaskGroup() as group:
            metrics.start(group)
            await engine.start(group)
            delete_init_file(data_dir)
            log.info(
                "oibus fully started",
                version=engine_version(),
                port=port,
                dataFolder=str(data_dir),
                safeMode=args.safe_mode,
            )
            print(f"OIBus {engine_version()} listening on http://localhost:{port} (data folder {data_dir})", flush=True)
            await stop.wait()
            log.info("stopping")
            await site.stop()
            await engine.stop()
            metrics.stop()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
    return 0


def reset_admin_password(data_dir: Path) -> int:
    """``--reset-admin-password`` (the launcher's ``--reset-password``): user ``admin`` gets ``pass`` again."""
    from engine.config.errors import NotFoundError
    from engine.config.store import ConfigStore

    store = ConfigStore.open(data_dir, init=None)
    try:
        try:
            store.set_user_password("admin", "pass")
        except NotFoundError:
            store.create_user({"login": "admin", "password": "pass"})
    finally:
        store.close()
    print("User admin can log in with the password 'pass': change it at once.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.version:
        print(f"OIBus version: {engine_version()}")
        if args.launcherVersion:
            print(f"Launcher version: {args.launcherVersion}")
        return
    if args.ignoreRemoteUpdate:
        from engine.upgrade import ignore_remote_updates

        ignore_remote_updates()
    data_dir = (Path(args.config).expanduser() if args.config else default_data_dir()).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Upstream works inside its data folder: relative paths in connector settings resolve there.
    os.chdir(data_dir)
    if args.reset_admin_password:
        sys.exit(reset_admin_password(data_dir))
    sys.exit(asyncio.run(serve(args, data_dir)))
