"""The sandbox process: runs custom transformers' JavaScript in V8 isolates (``python -m engine.sandbox.runner``).

It is a process of its own so a transformer that spins or allocates without end costs at most this process:
V8 stops the script at its time limit (``timeout_ms``) or its heap limit (``memory_limit_mb``), the isolate is
thrown away, and the answer names the limit. The isolate holds only V8's built-ins, a ``console`` whose lines
are sent back with the result, and ``require()`` of the helper libraries upstream offers (``papaparse``,
``luxon``, ``jsonpath-plus``, loaded from ``engine/sandbox/js/``): no file system, no network, no timers that
outlive a call, nothing of Python.

Transformer code is upstream's: CommonJS or a top-level ``transform`` function, with the entry
``module.exports.default || module.exports.transform || transform``, called as ``transform(content, source,
filename, options)``; it returns (or resolves to) ``{data, filename?, numberOfElement?}``, ``data`` being
text or any JSON value (written as JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no fcntl
    fcntl = None  # type: ignore[assignment]

from engine.sandbox.protocol import HEADER, MAX_FRAME, REQUEST, RunRequest, RunResult, frame_into

LIBRARIES = {"papaparse": "papaparse.js", "luxon": "luxon.js", "jsonpath-plus": "jsonpath-plus.js"}
"""``require()`` names and their plain-JS builds (``jsonpath`` is an alias of ``jsonpath-plus``, as upstream)."""
_JS = Path(__file__).with_name("js")
MAX_ISOLATES = 16
PIPE_SIZE = 1024 * 1024
"""Pipe buffer asked for (Linux's unprivileged maximum by default): a 1,000-value batch crosses in one write,
not in 64 KiB steps that each wait for the other side to read."""

_PRELUDE = r"""
globalThis.__logs = [];
(function () {
  const keep = (level) => (...args) => {
    if (globalThis.__logs.length < 1000) {
      globalThis.__logs.push([level, args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')]);
    }
  };
  globalThis.console = { log: keep('info'), info: keep('info'), debug: keep('debug'), warn: keep('warn'),
                         error: keep('error'), trace: keep('debug') };
  const cache = {};
  globalThis.require = function (name) {
    const key = name === 'jsonpath' ? 'jsonpath-plus' : name;
    if (!(key in cache)) {
      if (!(key in globalThis.__sources)) throw new Error("require('" + name + "'): not available to transformers");
      cache[key] = globalThis.__load(globalThis.__sources[key]);
    }
    return cache[key];
  };
  globalThis.__load = function (source) {
    const module = { exports: {} };
    const fn = new Function('module', 'exports', 'globalThis', 'self', 'window',
      source + '\n;if (typeof luxon !== "undefined") module.exports = luxon;' +
      '\n;if (!Object.keys(module.exports).length && globalThis.__umd) module.exports = globalThis.__umd;');
    const scope = {};
    fn(module, module.exports, scope, scope, scope);
    if (!Object.keys(module.exports).length) {
      const found = Object.values(scope)[0];
      if (found) return found;
    }
    return module.exports;
  };
})();
globalThis.__run = function (content, argsJson) {
  globalThis.__logs = [];
  const a = JSON.parse(argsJson);
  a.content = content;
  // The answer is one string: a line of JSON metadata, then the output as it is. Putting the output inside
  // the JSON would escape (and Python unescape) every quote of it: that was most of a run's cost.
  const finish = (result) => {
    const r = result || {};
    const data = r.data;
    const text = (value) => (typeof value === 'string' ? value : JSON.stringify(value));
    const output = data === undefined || data === null ? null : text(data);
    const meta = JSON.stringify({
      hasOutput: output !== null,
      filename: typeof r.filename === 'string' ? r.filename : null,
      numberOfElement: typeof r.numberOfElement === 'number' ? r.numberOfElement : 0,
      logs: globalThis.__logs,
    });
    return output === null ? meta + '\n' : meta + '\n' + output;
  };
  const result = globalThis.__entry(a.content, a.source, a.filename, a.options);
  return result && typeof result.then === 'function' ? result.then(finish) : finish(result);
};
"""

_MODULE = """
globalThis.__entry = (function () {
  const module = { exports: {} };
  const exports = module.exports;
  %s
  ;const entry = (typeof module.exports === 'function' ? module.exports : null)
    || (module.exports && (module.exports.default || module.exports.transform))
    || (typeof transform === 'function' ? transform : undefined);
  if (typeof entry !== 'function') throw new Error('no transform function exported');
  return entry;
})();
"""


_EXPORT_DECLARATION = re.compile(r"^(\s*)export\s+(?=(?:async\s+)?function\b|const\b|let\b|var\b|class\b)", re.M)
_EXPORT_DEFAULT = re.compile(r"^(\s*)export\s+default\s+", re.M)
_EXPORT_LIST = re.compile(r"^(\s*)export\s*\{[^}]*\}\s*;?", re.M)


def _as_script(code: str) -> str:
    """Upstream's documented ES module form as a script: ``export`` statements at a line start become plain ones.

    Upstream's documentation writes ``export function transform(...)``; V8 runs the code as a script inside a
    function (see ``_MODULE``), where ``export`` is a syntax error. ``export function f`` / ``export const f``
    become declarations (a top-level ``transform`` is an entry point), ``export default X`` becomes
    ``module.exports.default = X``, and ``export { ... }`` lists are dropped (the names stay declared).
    """
    code = _EXPORT_DECLARATION.sub(r"\1", code)
    code = _EXPORT_DEFAULT.sub(r"\1module.exports.default = ", code)
    return _EXPORT_LIST.sub(r"\1", code)


class _Isolate:
    """One V8 context holding one transformer's code, bound to the sandbox's event loop (see :func:`serve`)."""

    def __init__(self, context: Any, entry: Any) -> None:
        self.context = context
        self.entry = entry

    @classmethod
    async def open(cls, code: str, memory_limit_mb: int, timeout_s: float) -> _Isolate:
        """A context with the prelude and ``code`` loaded; the code's top level runs under the time limit."""
        from py_mini_racer import JSFunction, MiniRacer

        # Made inside the running loop, the context takes it as its own: calls from this thread then go straight
        # to V8's thread and back, without the hop through a loop thread of mini-racer's own.
        context = MiniRacer()
        try:
            context.set_hard_memory_limit(memory_limit_mb * 1024 * 1024)
            context.eval(f"globalThis.__sources = {_library_sources()};")
            context.eval(_PRELUDE)
            await asyncio.wait_for(context.eval_cancelable(_MODULE % _as_script(code)), timeout_s)
            entry = context.eval("__run")
            if not isinstance(entry, JSFunction):
                raise TypeError("sandbox prelude did not define __run")
        except BaseException:
            with contextlib.suppress(Exception):
                context.close()
            raise
        return cls(context, entry.cancelable())

    def close(self) -> None:
        """Free the V8 context (errors while closing a broken one are of no interest)."""
        with contextlib.suppress(Exception):
            self.context.close()

    async def run(self, request: RunRequest) -> Any:
        """The ``__run`` answer; the time limit covers the call and the promise it may return, together."""
        from py_mini_racer import JSPromise

        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout_ms / 1000
        args = {"source": request.source, "filename": request.filename, "options": request.options}
        # The content goes in as a native string argument, not inside a script V8 would have to parse.
        answer = await asyncio.wait_for(self.entry(request.content, _json(args)), request.timeout_ms / 1000)
        if isinstance(answer, JSPromise):
            answer = await asyncio.wait_for(answer, max(0.0, deadline - loop.time()))
        return answer


@functools.cache
def _library_sources() -> str:
    return _json({name: (_JS / file).read_text(encoding="utf-8") for name, file in LIBRARIES.items()})


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


class Sandbox:
    """The isolates of this process, one per (code, memory limit), least recently used dropped first."""

    def __init__(self) -> None:
        self.isolates: OrderedDict[str, _Isolate] = OrderedDict()
        self.current: _Isolate | None = None

    async def handle(self, request: RunRequest) -> RunResult:
        """Run one request; every failure becomes an answer naming its kind (and drops that isolate)."""
        self.current = None
        result = await self._handle(request)
        failed = self._take_current() if result.error_kind is not None else None
        if failed is not None:
            failed.close()
        return result

    def _take_current(self) -> _Isolate | None:
        current, self.current = self.current, None
        return current

    def close(self) -> None:
        """Close every isolate (before the process exits, so V8 calls nothing back into a closed loop)."""
        for isolate in self.isolates.values():
            isolate.close()
        self.isolates.clear()

    async def _handle(self, request: RunRequest) -> RunResult:
        import json

        from py_mini_racer import JSOOMException, JSParseException, JSTimeoutException

        key = hashlib.sha256(f"{request.memory_limit_mb}\0{request.code}".encode()).hexdigest()
        limits = f"{request.timeout_ms} ms, {request.memory_limit_mb} MB"
        isolate: _Isolate | None = None
        stage = "COMPILATION_ERROR"
        try:
            isolate = self.isolates.pop(key, None)
            if isolate is None:
                isolate = await _Isolate.open(request.code, request.memory_limit_mb, request.timeout_ms / 1000)
            self.current = isolate
            stage = "RUNTIME_ERROR"
            raw = await isolate.run(request)
            self.isolates[key] = isolate
            while len(self.isolates) > MAX_ISOLATES:
                self.isolates.popitem(last=False)[1].close()
            meta, _, output = str(raw).partition("\n")
            decoded = json.loads(meta)
            return RunResult(
                id=request.id,
                output=output if decoded["hasOutput"] else None,
                filename=decoded["filename"],
                number_of_element=int(decoded["numberOfElement"]),
                logs=[(str(level), str(text)) for level, text in decoded["logs"]],
            )
        except (JSTimeoutException, TimeoutError):
            # The isolate is dropped (not put back): a script stopped mid-way may have left it in any state.
            return RunResult(
                id=request.id, error_kind="TIMEOUT_ERROR", error=f"transformer stopped at its time limit ({limits})"
            )
        except JSOOMException:
            return _out_of_memory(request.id, limits)
        except JSParseException as err:
            return RunResult(id=request.id, error_kind="COMPILATION_ERROR", error=_first_line(err))
        except Exception as err:
            # A heap stopped at its limit may surface as any JS error (even 'null'): ask V8 which it was.
            if isolate is not None and isolate.context.was_hard_memory_limit_reached():
                return _out_of_memory(request.id, limits)
            kind: Any = stage
            return RunResult(id=request.id, error_kind=kind, error=_first_line(err))


def _out_of_memory(request_id: int, limits: str) -> RunResult:
    return RunResult(
        id=request_id, error_kind="MEMORY_LIMIT_EXCEEDED", error=f"transformer stopped at its memory limit ({limits})"
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:500]


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)  # a buffered stream returns less only at its end
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests one at a time until stdin closes.

    The runs go through one event loop of this (main) thread, which the isolates are bound to: reading the next
    request blocks it, which is right, as nothing runs in V8 between two requests.
    """
    loop = asyncio.new_event_loop()
    sandbox = Sandbox()
    try:
        _serve(loop, sandbox, stdin, stdout)
    finally:
        sandbox.close()
        loop.close()


def _serve(loop: asyncio.AbstractEventLoop, sandbox: Sandbox, stdin: BinaryIO, stdout: BinaryIO) -> None:
    while True:
        header = _read_exactly(stdin, HEADER.size)
        if header is None:
            return
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            return
        body = _read_exactly(stdin, size)
        if body is None:
            return
        result = loop.run_until_complete(sandbox.handle(REQUEST.decode(body)))
        out = bytearray()
        frame_into(result, out)
        stdout.write(out)
        stdout.flush()


def _widen_pipes(*streams: BinaryIO) -> None:
    """Ask for :data:`PIPE_SIZE` on the pipes to the engine (Linux only; elsewhere, or refused, the default stays).

    A pipe's size is the pipe's, so this side can set it for both ends.
    """
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setpipe is None:
        return
    for stream in streams:
        with contextlib.suppress(OSError, ValueError):
            fcntl.fcntl(stream.fileno(), setpipe, PIPE_SIZE)


def main() -> None:
    """Entry point of the sandbox process."""
    _widen_pipes(sys.stdin.buffer, sys.stdout.buffer)
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
