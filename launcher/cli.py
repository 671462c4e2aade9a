"""``oibus-launcher``: spawn the engine, restart it with backoff, fall back to safe mode on a crash loop.

Arguments other than the launcher's own are forwarded to the engine, with ``--config`` made absolute and
``--launcherVersion`` appended. SIGTERM/SIGINT stop the engine gracefully (it gets SIGTERM, then SIGKILL
after ``--stop-timeout`` seconds), then the launcher exits 0.

In an install folder (the frozen launcher's own folder, or ``--install-dir``) with a data folder
(``--config``), the launcher also applies the upgrades the engine stages (``launcher.upgrade``): before each
start it checks ``update/``, backs up, swaps, and rolls back a new version that does not stay up for
``--upgrade-window`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import psutil

from launcher.states import EngineState
from launcher.upgrade import DEFAULT_WINDOW_S, INSTALL_DIR_ENV, Trial, Upgrader

log = logging.getLogger("oibus.launcher")

CRASH_WINDOW_S = 120.0
CRASHES_BEFORE_SAFE_MODE = 5
EXIT_CONFIG = 78
"""The engine's exit code (EX_CONFIG) for a damaged configuration it could not restore from a backup."""
CONFIG_TRIES = 3
"""Starts in a row that end in ``EXIT_CONFIG`` before the launcher gives up: safe mode cannot fix a damaged file."""


def launcher_version() -> str:
    """The installed package version (the launcher ships with the engine)."""
    try:
        return metadata.version("oibus")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def engine_command(explicit: str | None, install_dir: Path | None = None) -> list[str]:
    """How to start the engine: ``--engine``, else ``binaries/oibus`` of the install folder, else this Python."""
    if explicit:
        return [explicit]
    here = install_dir or Path(sys.argv[0]).resolve().parent
    for candidate in (here / "binaries" / "oibus", here / "binaries" / "oibus.exe"):
        if candidate.is_file():
            return [str(candidate)]
    return [sys.executable, "-m", "engine"]


class Launcher:
    """Supervises the engine process."""

    def __init__(
        self, command: list[str], engine_args: list[str], args: argparse.Namespace, upgrader: Upgrader | None = None
    ) -> None:
        self.command = command
        self.engine_args = engine_args
        self.args = args
        self.state = EngineState.STOPPED
        self.stop_requested = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.crashes: list[float] = []
        self.safe_mode = False
        self.stop_at: float | None = None
        self.upgrader = upgrader
        self.trial: Trial | None = None
        # The engine's workers, last seen: an upgrade waits for them before it copies the data folder.
        self.engine_children: list[psutil.Process] = []

    def _set_state(self, state: EngineState, **fields: object) -> None:
        if state is not self.state:
            log.info("engine %s -> %s %s", self.state.label, state.label, fields or "")
            self.state = state

    def request_stop(self, signum: int, _frame: object) -> None:
        """Signal handler: forward a graceful stop to the engine."""
        log.info("received signal %s, stopping the engine", signum)
        self.stop_requested.set()
        self.stop_at = time.monotonic()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            self._forward_stop(proc)

    def _forward_stop(self, proc: subprocess.Popen[bytes]) -> None:
        self._set_state(EngineState.STOPPING)
        proc.send_signal(
            signal.SIGTERM if sys.platform != "win32" else getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM)
        )

    def run(self) -> int:
        """Run until stopped; return the launcher's exit code."""
        failures = 0
        config_failures = 0
        while not self.stop_requested.is_set():
            if self.upgrader is not None and self.upgrader.pending():
                self._reap_engine_children()
                self.trial = self.upgrader.prepare()
                if self.stop_requested.is_set():
                    break  # a trial not started yet is resumed by the next launcher
                if self.trial is not None and self.trial.launcher_replaced:
                    self._reexec()
            argv = [*self.command, *self.engine_args]
            if self.safe_mode:
                argv.append("--safe-mode")
            self._set_state(EngineState.STARTING)
            started = time.monotonic()
            # On Windows, CTRL_BREAK_EVENT (see _forward_stop) reaches only the leader of a process group.
            flags: int = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if sys.platform == "win32" else 0
            try:
                self.proc = subprocess.Popen(argv, creationflags=flags)
            except OSError as err:
                log.error("cannot start the engine: %s", err)
                return 2
            if self.stop_requested.is_set() and self.proc.poll() is None:
                # The stop signal came while the engine was being spawned: request_stop had no process to
                # forward it to, and without this the engine would run until killed at --stop-timeout.
                self._forward_stop(self.proc)
            code = self._wait(self.proc, started)
            if self.stop_requested.is_set():
                # A trial interrupted by a stop is resumed by the next launcher (upgrade-progress.json).
                break
            if self.trial is not None and self.upgrader is not None:
                uptime = time.monotonic() - started
                self.upgrader.roll_back(
                    self.trial,
                    f"version {self.trial.to_version} exited with code {code} after {uptime:.1f} s, "
                    f"within the {self.upgrader.window_s:g} s stability window",
                )
                self.trial = None
                # The previous version starts at once: this exit says nothing about it.
                continue
            if code == 0:
                # A clean exit nobody here asked for is a restart request (API or OIAnalytics): start again,
                # in normal mode, so that a fix an operator made in safe mode takes effect.
                if self.safe_mode:
                    log.info("engine restart requested: leaving safe mode")
                self.safe_mode = False
                failures = 0
                self.crashes.clear()
                self.stop_requested.wait(self.args.backoff_initial)
                continue
            config_failures = config_failures + 1 if code == EXIT_CONFIG else 0
            if config_failures >= CONFIG_TRIES:
                # FATAL: the engine printed which file is damaged; another start would only repeat it.
                self._set_state(EngineState.FATAL)
                log.error(
                    "the engine cannot start: its configuration (oibus.db or crypto.db) is damaged and no good "
                    "backup is left (exit code %d, %d starts); giving up until an operator restores it",
                    code,
                    config_failures,
                )
                return EXIT_CONFIG
            now = time.monotonic()
            if now - started >= self.args.stable_after:
                failures = 0
                self.crashes.clear()
            failures += 1
            self.crashes = [t for t in [*self.crashes, now] if now - t <= CRASH_WINDOW_S]
            if len(self.crashes) >= CRASHES_BEFORE_SAFE_MODE:
                if self.safe_mode:
                    self._set_state(EngineState.FATAL)
                    log.error("the engine keeps crashing even in safe mode; giving up")
                    return 1
                self.safe_mode = True
                self.crashes.clear()
                failures = 0
                log.error(
                    "the engine crashed %d times in %d s: restarting it in safe mode (connectors not started, "
                    "web UI reachable) so an operator can fix the configuration",
                    CRASHES_BEFORE_SAFE_MODE,
                    int(CRASH_WINDOW_S),
                )
                continue
            delay = min(self.args.backoff_max, self.args.backoff_initial * 2 ** max(failures - 1, 0))
            delay *= random.uniform(0.8, 1.2)
            log.warning("engine exited with code %s; restarting in %.1f s", code, delay)
            self._set_state(EngineState.BACKOFF)
            self.stop_requested.wait(delay)
        self._set_state(EngineState.STOPPED)
        return 0

    def _wait(self, proc: subprocess.Popen[bytes], started: float) -> int:
        while True:
            try:
                code = proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if self.upgrader is not None:
                    self._watch_upgrade(proc, started)
                if self.state is EngineState.STARTING and time.monotonic() - started >= self.args.stable_after:
                    self._set_state(EngineState.RUNNING)
                if self.stop_at is not None and time.monotonic() - self.stop_at > self.args.stop_timeout:
                    self._kill(proc)
                continue
            return code

    def _watch_upgrade(self, proc: subprocess.Popen[bytes], started: float) -> None:
        """Confirm a trial once the window has passed; remember the engine's workers."""
        with contextlib.suppress(psutil.Error):
            self.engine_children = psutil.Process(proc.pid).children(recursive=True)
        if (
            self.trial is not None
            and self.upgrader is not None
            and time.monotonic() - started >= self.upgrader.window_s
        ):
            self.upgrader.confirm(self.trial)
            self.trial = None

    def _reap_engine_children(self) -> None:
        """Workers leave when the engine's pipes close; wait for them (then kill) so no file is in use."""
        _, alive = psutil.wait_procs(self.engine_children, timeout=self.args.stop_timeout)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        self.engine_children = []

    def _reexec(self) -> None:
        """Become the new launcher (same process id, so the service manager sees no exit); it resumes the trial."""
        assert self.upgrader is not None
        launcher = str(self.upgrader.launcher)
        if sys.platform == "win32":  # pragma: no cover - exec is a spawn there: the service restart picks it up
            log.info("launcher_replaced: the new launcher runs from the next service start")
            return
        log.info("launcher_replaced: executing the new launcher %s", launcher)
        logging.shutdown()
        os.execv(launcher, [launcher, *sys.argv[1:]])

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        log.error("the engine did not stop in time; killing it")
        try:
            root = psutil.Process(proc.pid)
            for child in [*root.children(recursive=True), root]:
                child.kill()
        except psutil.NoSuchProcess:
            return


def install_folder(explicit: str | None) -> Path | None:
    """The install folder: ``--install-dir``, else the frozen launcher's folder, else none (a source checkout)."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return None


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split the launcher's own options from the engine's."""
    parser = argparse.ArgumentParser(prog="oibus-launcher", description=__doc__)
    parser.add_argument("--config", help="data folder (default: the engine's default data folder)")
    parser.add_argument("--engine", help="engine executable (default: binaries/oibus, else this Python)")
    parser.add_argument("--version", action="store_true", help="print the launcher version and exit")
    parser.add_argument(
        "--reset-password", action="store_true", help="reset user admin's password to 'pass' (or create it), then exit"
    )
    parser.add_argument("--stable-after", type=float, default=30.0, help="seconds up before a start counts as good")
    parser.add_argument("--backoff-initial", type=float, default=1.0)
    parser.add_argument("--backoff-max", type=float, default=60.0)
    parser.add_argument("--stop-timeout", type=float, default=30.0)
    parser.add_argument("--service", metavar="NAME", help="run as the Windows service NAME (set by the installer)")
    parser.add_argument("--install-dir", help="install folder whose update/ is applied (default: a frozen launcher's)")
    parser.add_argument(
        "--upgrade-window",
        type=float,
        default=DEFAULT_WINDOW_S,
        help="seconds a new version must stay up after an upgrade, else it is rolled back",
    )
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s launcher %(levelname)s %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--install-service"], ["--uninstall-service"]):
        from launcher import winservice

        here = install_folder(None) or Path(sys.argv[0]).resolve().parent
        api = winservice.WindowsApi()
        install = argv[0] == "--install-service"
        sys.exit(winservice.install(argv[1:], here, api) if install else winservice.uninstall(argv[1:], api))
    args, rest = parse(argv)
    version = launcher_version()
    if args.version:
        print(f"OIBus launcher version: {version}")
        return
    engine_args = [*rest, "--launcherVersion", version]
    config: Path | None = None
    if args.config:
        config = Path(args.config).expanduser().resolve()
        config.mkdir(parents=True, exist_ok=True)
        engine_args = ["--config", str(config), *engine_args]
    install_dir = install_folder(args.install_dir)
    if args.reset_password:
        # The engine owns oibus.db (and its password hashing): it does the reset and exits.
        where = ["--config", str(config)] if config else []
        reset = [*engine_command(args.engine, install_dir), *where, "--reset-admin-password"]
        sys.exit(subprocess.run(reset, check=False).returncode)
    upgrader: Upgrader | None = None
    if install_dir is not None and config is not None:
        upgrader = Upgrader(install_dir, config, window_s=args.upgrade_window)
        # The engine stages upgrades only when a launcher is there to apply them.
        os.environ[INSTALL_DIR_ENV] = str(install_dir)
    elif install_dir is not None:
        log.warning("remote upgrades disabled: they need the data folder given with --config")
    launcher = Launcher(engine_command(args.engine, install_dir), engine_args, args, upgrader)
    if args.service:
        from launcher.winservice import LauncherService, WindowsApi

        sys.exit(LauncherService(args.service, launcher, WindowsApi()).serve())
    signal.signal(signal.SIGTERM, launcher.request_stop)
    signal.signal(signal.SIGINT, launcher.request_stop)
    sys.exit(launcher.run())
