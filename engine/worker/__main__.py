"""Worker entry point: ``python -m engine.worker <key>``; speaks IPC on stdin and the original stdout."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import traceback
from typing import Any

from connectors.errors import ConnectorFatal, SettingsError
from engine.ipc import PROTOCOL_VERSION, Hello, Log, ProtocolError, Start, Stop, read_message
from engine.worker.channel import Channel
from engine.worker.runner import Runner

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_FATAL = 3


def build_runner(channel: Channel, start: Start) -> Runner[Any]:
    """The runner of the connector ``start`` describes (imports only that role's modules)."""
    if start.role == "south":
        from engine.worker.south import SouthRunner

        return SouthRunner(channel, start)
    from engine.worker.north import NorthRunner

    return NorthRunner(channel, start)


async def serve(ipc_fd: int, role: str) -> int:
    """Handshake, run the connector, and serve frames until ``Stop`` or the engine goes away."""
    channel = await Channel.open(ipc_fd)
    channel.send(Hello(protocol=PROTOCOL_VERSION, pid=os.getpid(), role=role))
    try:
        start = await read_message(channel.reader)
    except ProtocolError:
        return EXIT_ERROR
    if not isinstance(start, Start):
        return EXIT_OK  # the engine stopped us before we started
    try:
        runner = build_runner(channel, start)
    except (ConnectorFatal, SettingsError, KeyError, TypeError) as err:
        # Unknown type, bad caching block...: retrying the same settings cannot help.
        channel.send(Log(level="error", event="connector cannot run", fields={"error": str(err)}))
        await channel.drain()
        return EXIT_FATAL
    gc.freeze()  # The interpreter, the connector's modules and settings last as long as the worker (see cli).

    loop = asyncio.get_running_loop()
    if sys.platform != "win32":
        # The engine stops us with a Stop frame; a SIGTERM (stop escalation, or a terminal's Ctrl-C
        # reaching the whole process group) must also end in a clean stop, not a traceback.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(runner.stop()))

    async def read_loop() -> None:
        while True:
            try:
                message = await read_message(channel.reader)
            except ProtocolError as err:
                channel.send(Log(level="error", event="bad frame from engine", fields={"error": str(err)}))
                message = None
            if message is None or isinstance(message, Stop):
                await runner.stop()
                return
            await runner.handle(message)

    code = EXIT_OK
    try:
        async with asyncio.TaskGroup() as group:
            reader = group.create_task(read_loop(), name="worker:read")
            await runner.run()
            # A stop that came from a signal leaves the reader waiting on the pipe.
            reader.cancel()
    except* (ConnectorFatal, SettingsError) as errors:
        for error in errors.exceptions:
            channel.send(Log(level="error", event="connector cannot run", fields={"error": str(error)}))
        code = EXIT_FATAL
    except* Exception as errors:
        # A bug or an unexpected failure: tell the engine why before exiting (it restarts us with backoff).
        for crash in errors.exceptions:
            traceback.print_exception(crash, file=sys.stderr)
            fields = {"error": str(crash), "errorType": type(crash).__name__}
            channel.send(Log(level="error", event="worker crashed", fields=fields))
        code = EXIT_ERROR
    channel.send(Log(level="debug", event="worker exiting", fields={"code": code}))
    with contextlib.suppress(Exception):
        await channel.drain()
    return code


def main() -> None:
    """Keep the real stdout for frames and send stray prints (ours or a library's) to stderr."""
    key = sys.argv[1] if len(sys.argv) > 1 else "worker:?"
    role = key.split(":", 1)[0]
    ipc_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    code = asyncio.run(serve(ipc_fd, role))
    sys.exit(code)


if __name__ == "__main__":
    main()
