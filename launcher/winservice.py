"""Windows service: run the launcher under the Service Control Manager, and install or remove an instance.

``oibus-launcher.exe --service NAME --config DATA`` is what the service runs: the SCM's stop (or a shutdown)
becomes the launcher's graceful stop, and the service reports START_PENDING, RUNNING, STOP_PENDING and
STOPPED (with the launcher's exit code). ``install.bat`` and ``uninstall.bat`` call
``oibus-launcher.exe --install-service`` / ``--uninstall-service`` with upstream's options (``-n`` name,
``-c`` data folder, ``-u``/``-p`` admin credentials, ``-port``). The service restarts the launcher when it
stops on its own (``sc failure``), as systemd's ``Restart=always`` does.

Every call into Windows goes through :class:`WindowsApi` (ctypes on advapi32, ``sc.exe``, ``winreg``), the
one thing tests replace (with ``create_autospec``). Stdlib only, like the rest of the launcher.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("oibus.launcher")

# Service states and controls (winsvc.h).
SERVICE_STOPPED = 1
SERVICE_START_PENDING = 2
SERVICE_STOP_PENDING = 3
SERVICE_RUNNING = 4
SERVICE_CONTROL_STOP = 1
SERVICE_CONTROL_INTERROGATE = 4
SERVICE_CONTROL_SHUTDOWN = 5
ERROR_SERVICE_SPECIFIC_ERROR = 1066
NO_ERROR = 0

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_INSTANCES_KEY = r"SOFTWARE\OIBus\Instances"


class Stoppable(Protocol):
    """What the service drives: the launcher."""

    def run(self) -> int:
        """Run until stopped; the exit code."""

    def request_stop(self, signum: int, frame: object) -> None:
        """Stop the engine gracefully, then make ``run`` return."""


class WindowsApi:
    """The Windows calls the service and the installer need (only usable on Windows)."""

    def start_dispatcher(self, name: str, service_main: Callable[[], None]) -> None:
        """Hand the process to the SCM; ``service_main`` runs in its thread; returns when the service stopped."""
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import ctypes
            from ctypes import wintypes

            main_type = ctypes.WINFUNCTYPE(None, wintypes.DWORD, ctypes.POINTER(wintypes.LPWSTR))
            callback = main_type(lambda _argc, _argv: service_main())

            class Entry(ctypes.Structure):
                _fields_ = [("name", wintypes.LPWSTR), ("main", main_type)]

            table = (Entry * 2)(Entry(name, callback), Entry(None, main_type()))
            if not ctypes.windll.advapi32.StartServiceCtrlDispatcherW(table):
                raise ctypes.WinError()
            return
        raise OSError("Windows services exist only on Windows")

    def register_handler(self, name: str, handler: Callable[[int], None]) -> int:
        """Register the control handler of service ``name``; its status handle."""
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import ctypes
            from ctypes import wintypes

            handler_type = ctypes.WINFUNCTYPE(
                wintypes.DWORD, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID, wintypes.LPVOID
            )

            def on_control(control: int, _event: int, _data: object, _context: object) -> int:
                handler(control)
                return NO_ERROR

            self._handler = handler_type(on_control)  # kept alive as long as the service runs
            handle: int = ctypes.windll.advapi32.RegisterServiceCtrlHandlerExW(name, self._handler, None)
            if not handle:
                raise ctypes.WinError()
            return handle
        raise OSError("Windows services exist only on Windows")

    def set_status(self, handle: int, state: int, *, exit_code: int = 0, wait_hint_ms: int = 0) -> None:
        """Report the service's state to the SCM (stop and shutdown are accepted while RUNNING)."""
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import ctypes
            from ctypes import wintypes

            class Status(ctypes.Structure):
                _fields_ = [
                    (field, wintypes.DWORD)
                    for field in ("type", "state", "accepted", "exit", "specific", "checkpoint", "hint")
                ]

            accepted = 0x1 | 0x4 if state == SERVICE_RUNNING else 0  # STOP | SHUTDOWN
            win32_exit = ERROR_SERVICE_SPECIFIC_ERROR if exit_code else NO_ERROR
            status = Status(0x10, state, accepted, win32_exit, exit_code, 0, wait_hint_ms)
            if not ctypes.windll.advapi32.SetServiceStatus(handle, ctypes.byref(status)):
                raise ctypes.WinError()
            return
        raise OSError("Windows services exist only on Windows")

    def sc(self, *args: str) -> None:
        """Run ``sc.exe`` (service configuration); raise with its output when it fails."""
        done = subprocess.run(["sc.exe", *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise OSError(f"sc.exe {args[0]} failed ({done.returncode}): {done.stdout.strip()} {done.stderr.strip()}")

    def instances(self) -> dict[str, tuple[str, str]]:
        """The registered instances: name to (install folder, data folder)."""
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import winreg

            found: dict[str, tuple[str, str]] = {}
            try:
                root = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, _INSTANCES_KEY)
            except FileNotFoundError:
                return found
            with root:
                index = 0
                while True:
                    try:
                        name = winreg.EnumKey(root, index)
                    except OSError:
                        return found
                    with winreg.OpenKey(root, name) as key:
                        found[name] = (winreg.QueryValueEx(key, "AppDir")[0], winreg.QueryValueEx(key, "DataDir")[0])
                    index += 1
        raise OSError("the Windows registry exists only on Windows")

    def set_instance(self, name: str, install_dir: str, data_dir: str) -> None:
        r"""Record an instance (upstream's ``HKLM\SOFTWARE\OIBus\Instances\<name>``)."""
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import winreg

            with winreg.CreateKey(winreg.HKEY_LOCAL_MACHINE, rf"{_INSTANCES_KEY}\{name}") as key:
                winreg.SetValueEx(key, "AppDir", 0, winreg.REG_SZ, install_dir)
                winreg.SetValueEx(key, "DataDir", 0, winreg.REG_SZ, data_dir)
            return
        raise OSError("the Windows registry exists only on Windows")

    def delete_instance(self, name: str) -> None:
        """Forget an instance."""
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import winreg

            winreg.DeleteKey(winreg.HKEY_LOCAL_MACHINE, rf"{_INSTANCES_KEY}\{name}")
            return
        raise OSError("the Windows registry exists only on Windows")


class LauncherService:
    """The launcher as a Windows service: SCM controls in, service states out."""

    def __init__(self, name: str, launcher: Stoppable, api: WindowsApi, *, stop_wait_hint_ms: int = 60_000) -> None:
        self.name = name
        self.launcher = launcher
        self.api = api
        self.stop_wait_hint_ms = stop_wait_hint_ms
        self.exit_code: int | None = None
        self._handle = 0
        self._lock = threading.Lock()

    def serve(self) -> int:
        """Give the process to the SCM; return the launcher's exit code once the service stopped."""
        self.api.start_dispatcher(self.name, self._main)
        return self.exit_code if self.exit_code is not None else 1

    def _main(self) -> None:
        self._handle = self.api.register_handler(self.name, self._control)
        self.api.set_status(self._handle, SERVICE_START_PENDING, wait_hint_ms=10_000)
        self.api.set_status(self._handle, SERVICE_RUNNING)
        try:
            self.exit_code = self.launcher.run()
        except Exception:
            log.exception("the launcher failed")
            self.exit_code = 1
        with self._lock:
            self.api.set_status(self._handle, SERVICE_STOPPED, exit_code=self.exit_code)

    def _control(self, control: int) -> None:
        if control in (SERVICE_CONTROL_STOP, SERVICE_CONTROL_SHUTDOWN):
            log.info("service stop requested (control %s)", control)
            with self._lock:
                self.api.set_status(self._handle, SERVICE_STOP_PENDING, wait_hint_ms=self.stop_wait_hint_ms)
            self.launcher.request_stop(0, None)


def _install_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("-n", dest="name", default="OIBus", help="instance (service) name")
    parser.add_argument("-c", dest="data_dir", default=r"C:\OIBusData", help="data folder")
    parser.add_argument("-u", dest="admin_user", help="first admin user name")
    parser.add_argument("-p", dest="admin_password", help="first admin password")
    parser.add_argument("-port", "--port", dest="port", type=int, help="HTTP port of the first start")
    return parser


def _checked_name(parser: argparse.ArgumentParser, name: str) -> str:
    if not _NAME.fullmatch(name):
        parser.error(f"-n: instance name {name!r} may hold only letters, digits, '.', '_' and '-'")
    return name


def install(argv: list[str], install_dir: Path, api: WindowsApi) -> int:
    """``--install-service``: register ``install_dir`` as the service ``-n`` running with data folder ``-c``."""
    parser = _install_parser("oibus-launcher --install-service")
    args = parser.parse_args(argv)
    name = _checked_name(parser, args.name)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"-port: expected a number from 1 to 65535, got {args.port}")
    data_dir = Path(args.data_dir).resolve()
    for other, (other_install, other_data) in api.instances().items():
        if other != name and {str(install_dir), str(data_dir)} & {other_install, other_data}:
            parser.error(f"instance {other!r} already uses {other_install} / {other_data}")
    data_dir.mkdir(parents=True, exist_ok=True)
    init: dict[str, Any] = {"engineName": name}
    for field, value in (("adminUsername", args.admin_user), ("adminPassword", args.admin_password)):
        if value:
            init[field] = value
    if args.port is not None:
        init["port"] = args.port
    if not (data_dir / "oibus.db").exists():
        init_file = data_dir / "oibus.init.json"
        init_file.write_text(json.dumps(init), encoding="utf-8")
        os.chmod(init_file, 0o600)
    launcher = install_dir / "oibus-launcher.exe"
    command = f'"{launcher}" --service {name} --config "{data_dir}"'
    api.sc("create", name, "binPath=", command, "start=", "auto", "DisplayName=", f"OIBus ({name})")
    api.sc("description", name, "OIBus industrial data bus")
    # Like systemd's Restart=always: the SCM starts the launcher again 5 s after it stops on its own.
    api.sc("failure", name, "reset=", "86400", "actions=", "restart/5000/restart/5000/restart/5000")
    api.set_instance(name, str(install_dir), str(data_dir))
    api.sc("start", name)
    print(f"OIBus service {name!r} installed (install folder {install_dir}, data folder {data_dir})")
    return 0


def uninstall(argv: list[str], api: WindowsApi) -> int:
    """``--uninstall-service``: stop and delete the service ``-n`` and its registry entry (data is kept)."""
    parser = argparse.ArgumentParser(prog="oibus-launcher --uninstall-service")
    parser.add_argument("-n", dest="name", default="OIBus")
    name = _checked_name(parser, parser.parse_args(argv).name)
    try:
        api.sc("stop", name)
    except OSError as err:
        log.warning("service %s did not stop: %s", name, err)  # already stopped: deletion still works
    api.sc("delete", name)
    if name in api.instances():
        api.delete_instance(name)
    print(f"OIBus service {name!r} removed; its data folder is kept")
    return 0
