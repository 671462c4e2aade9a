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
import gc
import os
import signal
import sqlite3
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from engine.paths import default_data_dir
from engine.version import engine_version

if TYPE_CHECKING:
    from engine.config.models import WebServerSettings
    from engine.config.store import ConfigStore
    from engine.engine import Engine
    from engine.info import EngineInfo
    from engine.logs import LogPipeline
    from engine.logs.database import LogStore
    from engine.metrics import MetricsStore
    from engine.oianalytics.agent import OIAnalyticsAgent
    from engine.proxy import ProxyService
    from engine.store_health import UnavailableStores

log = structlog.get_logger("engine")

LOG_STORE_RETRY_S = 5.0
"""How often the engine tries to open ``logs.db`` again while its disk is full."""


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
    from engine.config.backup import recover, take_backup
    from engine.config.provisioning import read_init_settings
    from engine.config.store import ConfigStore
    from engine.logs import configure as configure_logs
    from engine.metrics import MetricsStore
    from engine.store_health import UnavailableStores

    # Before the store opens: a damaged oibus.db must be restored, never recreated as a new install.
    restored = recover(data_dir)
    init = read_init_settings(data_dir)
    store = ConfigStore.open(data_dir, init=init, launcher_version=args.launcherVersion or None)
    take_backup(data_dir)
    settings = store.engine_settings()
    logs = configure_logs(
        settings.logger, data_dir, settings.general.name, console_level=os.environ.get("OIBUS_LOG_LEVEL")
    )
    try:
        # Closed after the API and the engine: the last reports of the workers are written too.
        # A full disk under logs/ costs the stores there, never the start: the engine runs without them.
        async with MetricsStore.open(data_dir, unavailable=UnavailableStores()) as metrics:
            metrics.prune("south", [south.id for south in store.souths.list_souths()])
            metrics.prune("north", [north.id for north in store.norths.list_norths()])
            return await _serve(args, data_dir, store, logs, metrics, restored)
    finally:
        store.close()
        log.info("stopped")
        await asyncio.to_thread(logs.close)


async def _serve(
    args: argparse.Namespace,
    data_dir: Path,
    store: ConfigStore,
    logs: LogPipeline,
    metrics: MetricsStore,
    restored: list[str],
) -> int:
    """Listen, start the connectors, and wait for a stop signal (or ``POST /api/engine/restart``)."""
    from engine.config.provisioning import delete_init_file
    from engine.config_source import StoreConfigSource
    from engine.engine import Engine
    from engine.launcher_watch import stop_when_parent_dies
    from engine.oianalytics.agent import OIAnalyticsAgent, stop_agent
    from engine.proxy import ProxyService

    settings = store.engine_settings()
    config_source = StoreConfigSource(store)
    engine = Engine(data_dir, config_source, safe_mode=args.safe_mode)
    # Set by a signal, by POST /api/engine/restart or by an OIAnalytics command: all stop gracefully, exit 0.
    stop = asyncio.Event()
    proxy = ProxyService(store.ip_filters.ip_filter_addresses, ignore_ip_filters=args.ignoreIpFilters)
    proxy.apply(settings.proxy_server)
    _listen_to_engine(engine, store, logs, proxy, metrics)
    info = _engine_info(args, data_dir, restored, metrics.unavailable)
    agent = OIAnalyticsAgent(data_dir, store, engine, info, request_exit=_exit_request(stop), logs=logs)
    config_source.extra.append(agent.connector_extra)
    app = _web_app(store, engine, info, agent, logs, metrics, stop)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sites = await _listen(runner, settings.web_server, data_dir)
    if not sites:
        await runner.cleanup()
        agent.close()
        return 1
    _stop_on_signals(stop)
    try:
        async with asyncio.TaskGroup() as group:
            stop_stores = _start_stores(group, metrics, app)
            group.create_task(proxy.run(), name="engine:proxy")
            await engine.start(group)
            agent_task = group.create_task(agent.run(), name="oianalytics:agent")
            if args.launcherVersion:
                group.create_task(stop_when_parent_dies(stop), name="engine:launcher-watch")
            delete_init_file(data_dir)
            _announce(args, data_dir, [(scheme, site_port) for scheme, site_port, _ in sites])
            gc.freeze()  # What startup built lives as long as the process: full collections skip it.
            await stop.wait()
            log.info("stopping")
            for _, _, site in sites:
                await site.stop()
            await stop_agent(agent_task)
            proxy.stop()
            await engine.stop()
            stop_stores()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
        agent.close()
    return 0


def _start_stores(group: asyncio.TaskGroup, metrics: MetricsStore, app: web.Application) -> Callable[[], None]:
    """Start the metrics loop and, while ``logs.db`` is unavailable, its retries; return what stops both."""
    from engine.api.keys import LOGS

    metrics.start(group)
    retry = group.create_task(_reopen_log_store(app[LOGS]), name="engine:log-store-retry")

    def stop() -> None:
        retry.cancel()
        metrics.stop()

    return stop


async def _reopen_log_store(logs: LogStore, interval_s: float = LOG_STORE_RETRY_S) -> None:
    """Open ``logs.db`` again while its disk is full: nobody may search the logs to make it try."""
    while True:
        if await asyncio.to_thread(logs.ensure):
            return
        await asyncio.sleep(interval_s)


def _exit_request(stop: asyncio.Event) -> Callable[[], Awaitable[None]]:
    """What the OIAnalytics agent calls to stop the engine gracefully (a restart or upgrade command)."""

    async def request_exit() -> None:
        stop.set()

    return request_exit


def _engine_info(
    args: argparse.Namespace, data_dir: Path, restored: list[str], unavailable: UnavailableStores
) -> EngineInfo:
    """What the engine reports about itself (``GET /api/engine/info``), from the command line."""
    from engine.info import EngineInfo

    return EngineInfo(
        data_directory=data_dir,
        launcher_version=args.launcherVersion,
        ignore_ip_filters=args.ignoreIpFilters,
        ignore_remote_update=args.ignoreRemoteUpdate,
        configuration_restored=tuple(restored),
        unavailable_stores=unavailable,
    )


def _listen_to_engine(
    engine: Engine, store: ConfigStore, logs: LogPipeline, proxy: ProxyService, metrics: MetricsStore
) -> None:
    """Apply engine settings changes to the logs and the proxy; record workers' metrics."""

    def apply_settings() -> None:
        current = store.engine_settings()  # decrypted: the Loki and proxy passwords are needed
        logs.apply(current.logger, engine_name=current.general.name)
        proxy.apply(current.proxy_server)

    engine.settings_listeners.append(apply_settings)
    engine.metrics_listeners.append(metrics.record)
    engine.worker_start_listeners.append(metrics.worker_started)


def _web_app(
    store: ConfigStore,
    engine: Engine,
    info: EngineInfo,
    agent: OIAnalyticsAgent,
    logs: LogPipeline,
    metrics: MetricsStore,
    stop: asyncio.Event,
) -> web.Application:
    """The REST API and UI with the engine's extras: OIAnalytics, logs, live streams, the restart route."""
    from engine.api.app import create_app
    from engine.api.keys import HISTORY, LOG_PIPELINE, LOGS, OIANALYTICS, STOP_ENGINE
    from engine.api.routes_oianalytics import config_change_middleware
    from engine.api.routes_sse import install as install_live_streams
    from engine.api.served import extra_route_tables
    from engine.logs import LogStore
    from engine.web import setup as setup_web

    app = create_app(store, engine, info, extra_routes=extra_route_tables(), ui=setup_web)
    app[OIANALYTICS] = agent
    app[HISTORY] = engine.history
    engine.history.status_listeners.append(agent.history_changed)
    app.middlewares.append(config_change_middleware)
    app[LOGS] = LogStore(info.data_directory, info.unavailable_stores)
    app[LOG_PIPELINE] = logs
    install_live_streams(app, metrics)
    app[STOP_ENGINE] = stop
    return app


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM (Windows: Ctrl-C, Ctrl-Break) set ``stop``: a graceful stop."""
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    else:  # pragma: no cover - Windows: Ctrl-C / Ctrl-Break arrive as SIGINT / SIGBREAK
        signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(stop.set))
        signal.signal(signal.SIGBREAK, lambda *_: loop.call_soon_threadsafe(stop.set))


def _announce(args: argparse.Namespace, data_dir: Path, sites: list[tuple[str, int]]) -> None:
    """Log that the engine is up and print where it listens (the launcher and operators read that line)."""
    port = sites[0][1]
    log.info(
        "oibus fully started", version=engine_version(), port=port, dataFolder=str(data_dir), safeMode=args.safe_mode
    )
    urls = " and ".join(f"{scheme}://localhost:{site_port}" for scheme, site_port in sites)
    print(f"OIBus {engine_version()} listening on {urls} (data folder {data_dir})", flush=True)


async def _listen(
    runner: web.AppRunner, web_server: WebServerSettings, data_dir: Path
) -> list[tuple[str, int, web.TCPSite]]:
    """Open the HTTP listener and, when enabled, the HTTPS one (``webServer.https``); none if one fails."""
    from engine.certificates import server_ssl_context

    https = web_server.https
    wanted: list[tuple[str, int, ssl.SSLContext | None]] = []
    if not (https.enabled and not https.keep_http):
        wanted.append(("http", web_server.port, None))
    if https.enabled:
        try:
            tls = await asyncio.to_thread(server_ssl_context, data_dir)
        except (OSError, ValueError, ssl.SSLError) as err:
            log.error("cannot load the HTTPS certificate", folder=str(data_dir / "certs"), error=str(err))
            return []
        wanted.append(("https", https.port, tls))
    sites: list[tuple[str, int, web.TCPSite]] = []
    for scheme, port, context in wanted:
        site = web.TCPSite(runner, host=None, port=port, reuse_address=True, ssl_context=context)
        known = len(runner.addresses)
        try:
            await site.start()
        except OSError as err:
            log.error("cannot listen", scheme=scheme, port=port, error=str(err))
            for _, _, started in sites:
                await started.stop()
            return []
        sites.append((scheme, _bound_port(runner.addresses[known:], port), site))
    return sites


def _bound_port(addresses: list[Any], configured: int) -> int:
    """The port a site got: the configured one, or with port 0 the one the system gave its IPv4 socket.

    With port 0 and every interface, each address family gets its own port; loopback IPv4 is the one
    announced (IPv4 socket names are ``(host, port)`` pairs, IPv6 ones have four fields).
    """
    if configured or not addresses:
        return configured
    ipv4 = [address for address in addresses if isinstance(address, tuple) and len(address) == 2]
    return int((ipv4 or addresses)[0][1])


def reset_admin_password(data_dir: Path) -> int:
    """``--reset-admin-password`` (the launcher's ``--reset-password``): user ``admin`` gets ``pass`` again."""
    from engine.config.errors import NotFoundError
    from engine.config.store import ConfigStore

    store = ConfigStore.open(data_dir, init=None)
    try:
        try:
            store.users.set_user_password("admin", "pass")
        except NotFoundError:
            store.users.create_user({"login": "admin", "password": "pass"})
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
    from engine.cache.space import is_store_no_space, no_space_reason
    from engine.config.backup import ConfigurationDamaged
    from engine.launcher_watch import DataFolderInUse, lock_data_folder

    try:
        lock = lock_data_folder(data_dir)
        with lock:
            sys.exit(asyncio.run(serve(args, data_dir)))
    except DataFolderInUse as err:
        print(f"OIBus cannot start: {err}", file=sys.stderr, flush=True)
        sys.exit(75)  # EX_TEMPFAIL: the other engine may be on its way out.
    except ConfigurationDamaged as err:
        # One clear line for the launcher's log and the service manager, not a traceback; 78 is EX_CONFIG.
        print(f"OIBus cannot start: {err}", file=sys.stderr, flush=True)
        sys.exit(78)
    except (sqlite3.Error, OSError) as err:
        if not is_store_no_space(err, data_dir / "oibus.db"):
            raise
        # The configuration cannot be opened, not even read, on a full disk; it is not damaged. EX_TEMPFAIL:
        # the launcher starts the engine again (with its backoff) until space is freed.
        print(
            f"OIBus cannot start: {no_space_reason(data_dir)} ({data_dir}): oibus.db cannot be opened; "
            "free some space, OIBus starts again by itself",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(75)
