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

import contextlib
import functools
import hashlib
import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

from engine.sandbox.protocol import HEADER, MAX_FRAME, REQUEST, RunRequest, RunResult, frame

LIBRARIES = {"papaparse": "papaparse.js", "luxon": "luxon.js", "jsonpath-plus": "jsonpath-plus.js"}
"""``require()`` names and their plain-JS builds (``jsonpath`` is an alias of ``jsonpath-plus``, as upstream)."""
_JS = Path(__file__).with_name("js")
MAX_ISOLATES = 16

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
    """One V8 context holding one transformer's code."""

    def __init__(self, code: str, memory_limit_mb: int, timeout_s: float) -> None:
        from py_mini_racer import JSFunction, MiniRacer

        self.context = MiniRacer()
        self.context.set_hard_memory_limit(memory_limit_mb * 1024 * 1024)
        self.context.eval(f"globalThis.__sources = {_library_sources()};")
        self.context.eval(_PRELUDE)
        self.context.eval(_MODULE % _as_script(code), timeout_sec=timeout_s)
        # The content goes in as a native string argument, not inside a script V8 would have to parse.
        entry = self.context.eval("__run")
        if not isinstance(entry, JSFunction):
            raise TypeError("sandbox prelude did not define __run")
        self.entry = entry

    def close(self) -> None:
        """Free the V8 context (errors while closing a broken one are of no interest)."""
        with contextlib.suppress(Exception):
            self.context.close()

    def run(self, request: RunRequest) -> Any:
        from py_mini_racer import JSPromise

        args = {"source": request.source, "filename": request.filename, "options": request.options}
        timeout = request.timeout_ms / 1000
        answer = self.entry(request.content, _json(args), timeout_sec=timeout)
        if isinstance(answer, JSPromise):
            answer = answer.get(timeout=timeout)
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

    def handle(self, request: RunRequest) -> RunResult:
        """Run one request; every failure becomes an answer naming its kind (and drops that isolate)."""
        self.current = None
        result = self._handle(request)
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

    def _handle(self, request: RunRequest) -> RunResult:
        import json

        from py_mini_racer import JSOOMException, JSParseException, JSTimeoutException

        key = hashlib.sha256(f"{request.memory_limit_mb}\0{request.code}".encode()).hexdigest()
        limits = f"{request.timeout_ms} ms, {request.memory_limit_mb} MB"
        isolate: _Isolate | None = None
        stage = "COMPILATION_ERROR"
        try:
            isolate = self.isolates.pop(key, None)
            if isolate is None:
                isolate = _Isolate(request.code, request.memory_limit_mb, request.timeout_ms / 1000)
            self.current = isolate
            stage = "RUNTIME_ERROR"
            raw = isolate.run(request)
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
        except JSTimeoutException:
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
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests one at a time until stdin closes."""
    sandbox = Sandbox()
    try:
        _serve(sandbox, stdin, stdout)
    finally:
        sandbox.close()


def _serve(sandbox: Sandbox, stdin: BinaryIO, stdout: BinaryIO) -> None:
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
        result = sandbox.handle(REQUEST.decode(body))
        stdout.write(frame(result))
        stdout.flush()


def main() -> None:
    """Entry point of the sandbox process."""
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
