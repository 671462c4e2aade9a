"""Custom transformers on the routing path: a North rule's JavaScript runs in the sandbox before its cache stores.

The fan-out (``engine.routing.fanout``) hands each part a custom rule applies to to :class:`CustomTransformers`,
which runs the transformer in the one sandbox process of the engine (:class:`SandboxClient`: runs are
serialised, V8 enforces each run's time and memory limits, a process that dies or stops answering is
replaced on the next run). The result is what the North stores:

- the transformed content (the transformer's ``outputType``, its ``data`` as payload, its count);
- ``None`` when the transformer returned no ``data`` (nothing to send: the part is dropped on purpose);
- the *input* unchanged, marked with ``error``, when the transformer cannot run or fails (limit reached,
  exception, unknown id, content it does not read): the North stores it in its error cache and logs the
  error under its own scope, so nothing is lost and an operator can retry it once the code is fixed.

The code is read from the store on every part, so a transformer updated through the API or by OIAnalytics
applies from the next batch on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import structlog

from engine.ipc import Content
from engine.routing.router import Rule
from engine.routing.tabular import random_id
from engine.routing.transformers import ANY_INPUTS, TransformError, content_bytes
from engine.sandbox.client import DEFAULT_MEMORY_LIMIT_MB, SandboxClient, SandboxError

log = structlog.get_logger(__name__)

_LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}


@dataclass(frozen=True, slots=True)
class CustomCode:
    """What routing needs of a stored custom transformer."""

    id: str
    input_type: str
    output_type: str
    code: str
    timeout_ms: int


Lookup = Callable[[str], CustomCode | None]
"""A custom transformer by id (``None``: there is none by that id)."""


class CustomSource(Protocol):
    """Where the engine reads custom transformers (``engine.config_source.ConfigSource`` has it)."""

    def custom_transformer(self, transformer_id: str) -> dict[str, Any] | None:
        """One custom transformer DTO (camelCase), or ``None``."""
        ...


def lookup_in(config: CustomSource) -> Lookup:
    """A :data:`Lookup` reading the store at each call (an updated transformer applies at once)."""

    def lookup(transformer_id: str) -> CustomCode | None:
        dto = config.custom_transformer(transformer_id)
        if dto is None:
            return None
        return CustomCode(
            id=transformer_id,
            input_type=str(dto["inputType"]),
            output_type=str(dto["outputType"]),
            code=str(dto["customCode"]),
            timeout_ms=int(dto["timeout"]),
        )

    return lookup


def reads(input_type: str, content_type: str) -> bool:
    """Whether a custom transformer declared for ``input_type`` reads content of ``content_type``."""
    return content_type in ANY_INPUTS if input_type == "any" else content_type == input_type


def _source(part: Content) -> dict[str, Any]:
    """The ``source`` argument upstream gives ``transform``: where the content comes from."""
    if part.source_type == "south":
        return {"source": "south", "southId": part.source_id}
    if part.source_type == "oibus-api":
        return {"source": "oibus-api", "dataSourceId": part.source_id}
    return {"source": part.source_type}


class CustomTransformers:
    """Runs custom transformer rules in one sandbox process (started on first use, closed with the engine)."""

    def __init__(self, lookup: Lookup, *, memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB) -> None:
        self.lookup = lookup
        self.memory_limit_mb = memory_limit_mb
        self.sandbox = SandboxClient()

    async def close(self) -> None:
        """Stop the sandbox process."""
        await self.sandbox.close()

    async def apply(self, transformer_id: str, rule: Rule | None, part: Content) -> Content | None:
        """What the North stores of ``part`` through the custom transformer ``transformer_id``."""
        custom = self.lookup(transformer_id)
        if custom is None:
            return _failed(part, f"custom transformer '{transformer_id}' does not exist")
        if not reads(custom.input_type, part.content_type):
            reason = f"custom transformer '{transformer_id}' reads {custom.input_type}, not {part.content_type}"
            return _failed(part, reason)
        try:
            text = content_bytes(part).decode("utf-8", errors="replace")
            filename = part.filename or f"{random_id()}.json"
            result = await self.sandbox.run(
                custom.code,
                text,
                source=_source(part),
                filename=filename,
                options=dict(rule.options) if rule is not None else {},
                timeout_ms=custom.timeout_ms,
                memory_limit_mb=self.memory_limit_mb,
            )
        except SandboxError as err:
            return _failed(part, f"custom transformer '{transformer_id}' failed: {err.kind}: {err}")
        except TransformError as err:
            return _failed(part, str(err))
        for level, text in result.logs:
            # Upstream bridges the transformer's console to the OIBus logs, prefixed so it is told apart.
            log.log(_LEVELS.get(level, 20), "CUSTOM TRANSFORMER: console", transformer=transformer_id, text=text)
        if result.output is None:
            return None
        return replace(
            part,
            content_type=custom.output_type,
            payload=result.output.encode(),
            count=result.number_of_element,
            file_path=None,
            # A file output keeps its name; JSON arrays stay nameless so the cache may fold them together.
            filename=(result.filename or filename) if custom.output_type == "any" else None,
            files=[],
            owned=False,
        )


def _failed(part: Content, reason: str) -> Content:
    return replace(part, error=reason)
