"""The Windows service glue on Linux: the Windows API is an autospec mock, the launcher and engine are real."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from unittest.mock import call, create_autospec

import psutil
import pytest
from launcher_process import wait_until

from launcher import winservice
from launcher.cli import Launcher, parse
from launcher.winservice import (
    SERVICE_CONTROL_STOP,
    SERVICE_RUNNING,
    SERVICE_START_PENDING,
    SERVICE_STOP_PENDING,
    SERVICE_STOPPED,
    LauncherService,
    WindowsApi,
)

# Runs until SIGTERM, which it takes as a graceful stop (exit 0); says when it is ready for it.
ENGINE = """\
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
pathlib.Path(sys.argv[1]).touch()
while True:
    time.sleep(0.05)
"""


def test_the_service_runs_the_launcher_and_a_stop_control_stops_it_gracefully(tmp_path: Path) -> None:
    api = create_autospec(WindowsApi, instance=True)
    handlers: list[Callable[[int], None]] = []
    api.start_dispatcher.side_effect = lambda _name, service_main: service_main()

    def register(_name: str, handler: Callable[[int], None]) -> int:
        handlers.append(handler)
        return 7

    api.register_handler.side_effect = register
    args, _ = parse(["--backoff-initial", "0.05"])
    ready = tmp_path / "ready"
    launcher = Launcher([sys.executable, "-c", ENGINE, str(ready)], [], args)
    service = LauncherService("OIBus-test", launcher, api)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.serve()))
    thread.start()
    try:
        wait_until(ready.exists, "the engine")
        engine = psutil.Process(launcher.proc.pid) if launcher.proc else None
        assert api.set_status.call_args_list == [
            call(7, SERVICE_START_PENDING, wait_hint_ms=10_000),
            call(7, SERVICE_RUNNING),
        ]

        handlers[0](SERVICE_CONTROL_STOP)
        thread.join(30)
    finally:
        if thread.is_alive():
            launcher.request_stop(0, None)
            thread.join(30)
    assert codes == [0]
    assert engine is not None and not engine.is_running()
    assert launcher.proc is not None and launcher.proc.returncode == 0  # stopped by SIGTERM, gracefully
    assert api.set_status.call_args_list[2:] == [
        call(7, SERVICE_STOP_PENDING, wait_hint_ms=60_000),
        call(7, SERVICE_STOPPED, exit_code=0),
    ]
    api.start_dispatcher.assert_called_once()
    assert api.start_dispatcher.call_args.args[0] == "OIBus-test"


def test_install_registers_the_service_and_writes_the_first_start_settings(tmp_path: Path) -> None:
    api = create_autospec(WindowsApi, instance=True)
    api.instances.return_value = {}
    install = tmp_path / "OIBus"
    data = tmp_path / "OIBusData"
    argv = ["-n", "Site1", "-c", str(data), "-u", "operator", "-p", 'pa"ss', "-port", "2224"]

    assert winservice.install(argv, install, api) == 0

    launcher = install / "oibus-launcher.exe"
    assert api.sc.call_args_list == [
        call(
            "create",
            "Site1",
            "binPath=",
            f'"{launcher}" --service Site1 --config "{data}"',
            "start=",
            "auto",
            "DisplayName=",
            "OIBus (Site1)",
        ),
        call("description", "Site1", "OIBus industrial data bus"),
        call("failure", "Site1", "reset=", "86400", "actions=", "restart/5000/restart/5000/restart/5000"),
        call("start", "Site1"),
    ]
    api.set_instance.assert_called_once_with("Site1", str(install), str(data))
    init = json.loads((data / "oibus.init.json").read_text())
    assert init == {"engineName": "Site1", "adminUsername": "operator", "adminPassword": 'pa"ss', "port": 2224}


@pytest.mark.parametrize(
    ("argv", "instances", "message"),
    [
        (["-n", "bad name"], {}, "-n: instance name 'bad name'"),
        (["-port", "70000"], {}, "-port: expected a number from 1 to 65535"),
        (["-n", "B"], {"A": ("INSTALL", "elsewhere")}, "instance 'A' already uses"),
    ],
)
def test_install_refuses_bad_options(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    instances: dict[str, tuple[str, str]],
    message: str,
) -> None:
    api = create_autospec(WindowsApi, instance=True)
    api.instances.return_value = {
        name: (str(tmp_path) if install == "INSTALL" else install, data) for name, (install, data) in instances.items()
    }
    with pytest.raises(SystemExit) as exited:
        winservice.install([*argv, "-c", str(tmp_path / "data")], tmp_path, api)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    api.sc.assert_not_called()


def test_uninstall_stops_and_deletes_the_service_and_keeps_the_data() -> None:
    api = create_autospec(WindowsApi, instance=True)
    api.instances.return_value = {"Site1": ("C:\\OIBus", "C:\\OIBusData")}
    api.sc.side_effect = [OSError("service not started"), None]

    assert winservice.uninstall(["-n", "Site1"], api) == 0

    assert api.sc.call_args_list == [call("stop", "Site1"), call("delete", "Site1")]
    api.delete_instance.assert_called_once_with("Site1")


def test_the_real_api_says_it_needs_windows() -> None:
    with pytest.raises(OSError, match="only on Windows"):
        WindowsApi().set_status(1, SERVICE_RUNNING)
