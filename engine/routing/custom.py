"""Custom transformers on the routing path: look the definition up, run it in the sandbox process.

The engine keeps one :class:`CustomTransforms` (one sandbox process, started on the first custom run). A
failure (time or memory limit, an exception in the code, a transformer deleted meanwhile) is a
:class:`TransformError`, handled as for a standard transformer: that part is dropped with one warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from engine.ipc.messages import Content
from engine.routing.router import Verdict
from engine.routing.transformers import ANY_INPUTS, Transformed, TransformError
from engine.sandbox.client import SandboxClient, SandboxError


@dataclass(frozen=True, slots=True)
class Pending:
    """A part of a content waiting for its custom transformer."""

    part: Content
    transformer_id: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class CustomDefinition:
    """What running a custom transformer needs."""

    code: str
    input_type: str
    output_type: str
    timeout_ms: int


log = structlog.get_logger(__name__)

_LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}

Lookup = Callable[[str], "CustomDefinition | None"]


def _no_custom(_transformer_id: str) -> CustomDefinition | None:
    return None


class CustomTransforms:
    """Runs custom transformers by id for the router."""

    def __init__(self, lookup: Lookup | None = None) -> None:
        self.lookup = lookup or _no_custom
        self.sandbox = SandboxClient()

    async def apply(
        self, transformer_id: str, options: Any, content_type: str, payload: bytes, filename: str | None
    ) -> Transformed | None:
        """Transform one part; ``None`` when the code returned no data."""
        definition = self.lookup(transformer_id)
        if definition is None:
            raise TransformError(f"transformer '{transformer_id}' does not exist")
        readable = ANY_INPUTS if definition.input_type == "any" else {definition.input_type}
        if content_type not in readable:
            raise TransformError(f"'{transformer_id}' reads {definition.input_type}, not {content_type}")
        try:
            result = await self.sandbox.run(
                definition.code,
                payload.decode("utf-8", errors="replace"),
                filename=filename or "content.json",
                options=options if isinstance(options, dict) else {},
                timeout_ms=definition.timeout_ms,
            )
        except SandboxError as err:
            raise TransformError(f"'{transformer_id}' failed: {err.kind}: {err}") from err
        for level, text in result.logs:
            # Upstream prefixes these lines 'CUSTOM TRANSFORMER:'; here the event and the id say it.
            log.log(_LEVELS.get(level, 20), "custom_transformer_log", transformer_id=transformer_id, message=text)
        if result.output is None:
            return None
        count = result.number_of_element
        return Transformed(definition.output_type, result.output.encode(), count, result.filename)

    async def close(self) -> None:
        """Stop the sandbox process."""
        await self.sandbox.close()


class _CustomStore(Protocol):
    def find_custom_transformer(self, transformer_id: str) -> Any: ...


def custom_definitions(store: _CustomStore) -> Lookup:
    """A lookup reading the store on every batch, so an updated transformer applies from its next batch on."""

    def lookup(transformer_id: str) -> CustomDefinition | None:
        found = store.find_custom_transformer(transformer_id)
        if found is None:
            return None
        return CustomDefinition(
            code=found.custom_code, input_type=found.input_type, output_type=found.output_type, timeout_ms=found.timeout
        )

    return lookup
