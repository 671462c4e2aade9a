"""Transformer tests (the API's and OIAnalytics' ``test-custom-transformer``): one run on a sample input.

A custom transformer runs in the sandbox process exactly as on the routing path; a standard one runs its
function. The answer is upstream's ``TransformerTestResponse``: the output as text and its cache metadata.
"""

from __future__ import annotations

from typing import Any

import msgspec

from connectors.errors import SettingsError
from engine.config.base import now
from engine.config.models import CustomTransformerCommand
from engine.routing.tabular import random_id
from engine.routing.transformers import STANDARD, TransformError, transform_content
from engine.sandbox.client import SandboxClient, SandboxError


class TransformerTestRequest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``{inputData, options?}``: the content to transform and the rule options to use."""

    input_data: str
    options: dict[str, Any] = {}


class CustomTransformerTest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Body of ``POST /api/transformers/test``: a transformer not saved yet, and what to test it with."""

    command: CustomTransformerCommand
    test_request: TransformerTestRequest


class TestMetadata(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What the cache would record of the output."""

    content_type: str
    content_file: str
    content_size: int
    created_at: str
    number_of_element: int


class TransformerTestResponse(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The transformed output as text and its metadata (upstream's ``TransformerTestResponse``)."""

    output: str
    metadata: TestMetadata


async def run_custom(
    sandbox: SandboxClient, code: str, output_type: str, timeout_ms: int, test: TransformerTestRequest
) -> TransformerTestResponse:
    """One sandbox run; a failure of the transformer is the client's error (400 naming its kind)."""
    filename = f"{random_id()}.json"
    try:
        result = await sandbox.run(
            code, test.input_data, filename=filename, options=test.options, timeout_ms=timeout_ms
        )
    except SandboxError as err:
        raise SettingsError({"customCode": f"{err.kind}: {err}"}) from err
    output = result.output or ""
    return _response(output, output_type, result.filename or filename, result.number_of_element)


def run_standard(transformer_id: str, test: TransformerTestRequest) -> TransformerTestResponse:
    """One standard transformer run on the test input."""
    transformer = STANDARD[transformer_id]
    if transformer.apply is None:
        return _response(test.input_data, "any", f"{random_id()}.json", 0)
    content_type = "any-content" if transformer.input_type == "any" else transformer.input_type
    try:
        result = transform_content(transformer_id, test.options, content_type, test.input_data.encode())
    except TransformError as err:
        raise SettingsError({"inputData": str(err)}) from err
    if result is None:
        return _response("", transformer.output_type, f"{random_id()}.json", 0)
    return _response(
        result.payload.decode(errors="replace"),
        result.content_type,
        result.filename or f"{random_id()}.json",
        result.count,
    )


def _response(output: str, content_type: str, filename: str, count: int) -> TransformerTestResponse:
    return TransformerTestResponse(
        output=output,
        metadata=TestMetadata(
            content_type=content_type,
            content_file=filename,
            content_size=len(output.encode()),
            created_at=now(),
            number_of_element=count,
        ),
    )
