"""The five OIAnalytics custom-transformer commands: create, update, delete, test (and test one by id).

``test-custom-transformer`` carries ``{command: CustomTransformerCommandDTO, testRequest: {inputData,
options}}`` and answers ``JSON.stringify(TransformerTestResponse)``. ``test-transformer`` names a stored
(or standard) transformer by ``transformerId`` and carries either ``{inputData, options?}`` (the sample is
transformed) or ``{southId, southType, itemName, southSettings, itemSettings, testingSettings}`` (the South's
worker reads the item once and that result is transformed); it answers upstream's dual test result
``{raw, transformed, connectionDuration, queryDuration}``. Tests run in a sandbox process of their own,
started for the command and stopped after it, so a tenant's test can never slow the routing sandbox.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import msgspec

from connectors.errors import SettingsError
from engine.config.models import CustomTransformerDTO
from engine.config.validation import convert
from engine.routing.transformers import STANDARD
from engine.sandbox.client import SandboxClient
from engine.sandbox.testing import (
    CustomTransformerTest,
    TransformerTestRequest,
    TransformerTestResponse,
    run_custom,
    run_standard,
)

if TYPE_CHECKING:
    from engine.oianalytics.handlers import CommandContext
    from engine.oianalytics.repository import StoredCommand


def _content(command: StoredCommand) -> dict[str, Any]:
    if not isinstance(command.content, dict):
        raise SettingsError({"commandContent": f"expected an object, got {type(command.content).__name__}"})
    return command.content


def _transformer_id(command: StoredCommand) -> str:
    value = command.ids.get("transformerId")
    if not isinstance(value, str) or not value:
        raise SettingsError({"transformerId": "required"})
    return value


async def create_custom_transformer(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-custom-transformer``."""
    await asyncio.to_thread(ctx.store.custom_transformers.create_custom_transformer, _content(command))
    ctx.config_changed()
    return "Transformer created successfully"


async def update_custom_transformer(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-custom-transformer``."""
    await asyncio.to_thread(
        ctx.store.custom_transformers.update_custom_transformer, _transformer_id(command), _content(command)
    )
    ctx.config_changed()
    return "Transformer updated successfully"


async def delete_custom_transformer(ctx: CommandContext, command: StoredCommand) -> str:
    """``delete-custom-transformer``."""
    await asyncio.to_thread(ctx.store.custom_transformers.delete_custom_transformer, _transformer_id(command))
    ctx.config_changed()
    return "Transformer deleted successfully"


async def test_custom_transformer(ctx: CommandContext, command: StoredCommand) -> str:
    """``test-custom-transformer``: run the transformer sent on the sample input sent."""
    test = convert(_content(command), CustomTransformerTest)
    async with SandboxClient() as sandbox:
        response = await run_custom(
            sandbox, test.command.custom_code, test.command.output_type, test.command.timeout, test.test_request
        )
    return msgspec.json.encode(response).decode()


JSON_CONTENT = frozenset({"time-values", "setpoint", "oianalytics", "mqtt", "modbus", "opcua"})
"""Content types whose test output is shown as the JSON it holds rather than as text."""
MAX_SHOWN_ELEMENTS = 1000
MAX_SHOWN_CHARS = 500 * 1024
"""Upstream shows at most 1,000 elements of a JSON content, or 500 KiB of any other, in a test result."""


async def test_transformer(ctx: CommandContext, command: StoredCommand) -> str:
    """``test-transformer``: run a stored or standard transformer on a sample, or on an item's fresh read."""
    transformer_id = _transformer_id(command)
    content = _content(command)
    input_type = await asyncio.to_thread(_input_type, ctx, transformer_id)
    started = time.monotonic()
    if "inputData" in content:
        test = convert(content, TransformerTestRequest)
        raw: dict[str, Any] = _shown(_raw_type(input_type), test.input_data)
    else:
        raw = await _read_item(ctx, content)
        test = TransformerTestRequest(input_data=_as_input(raw), options=_options(content))
    read_ms = round((time.monotonic() - started) * 1000)
    response = await _run(ctx, transformer_id, test)
    transformed = _shown(response.metadata.content_type, response.output)
    return msgspec.json.encode(
        {"raw": raw, "transformed": transformed, "connectionDuration": 0, "queryDuration": read_ms}
    ).decode()


def _input_type(ctx: CommandContext, transformer_id: str) -> str:
    standard = STANDARD.get(transformer_id)
    if standard is not None:
        return standard.input_type
    return ctx.store.custom_transformers.get_custom_transformer(transformer_id).input_type


async def _run(ctx: CommandContext, transformer_id: str, test: TransformerTestRequest) -> TransformerTestResponse:
    if transformer_id in STANDARD:
        return run_standard(transformer_id, test)
    found: CustomTransformerDTO = await asyncio.to_thread(
        ctx.store.custom_transformers.get_custom_transformer, transformer_id
    )
    async with SandboxClient() as sandbox:
        return await run_custom(sandbox, found.custom_code, found.output_type, found.timeout, test)


def _raw_type(input_type: str) -> str:
    return "any-content" if input_type == "any" else input_type


def _shown(content_type: str, text: str) -> dict[str, Any]:
    """A content as a test result shows it: JSON types parsed (first 1,000 elements), others as text."""
    if content_type in JSON_CONTENT:
        try:
            elements = msgspec.json.decode(text)
        except msgspec.DecodeError:
            elements = None
        if isinstance(elements, list):
            shown = elements[:MAX_SHOWN_ELEMENTS]
            return {
                "type": content_type,
                "content": shown,
                "truncated": len(shown) < len(elements),
                "totalSize": len(elements),
            }
    return {
        "type": content_type,
        "content": text[:MAX_SHOWN_CHARS],
        "truncated": len(text) > MAX_SHOWN_CHARS,
        "totalSize": len(text),
    }


def _options(content: dict[str, Any]) -> dict[str, Any]:
    transformer = (content.get("testingSettings") or {}).get("transformer")
    options = transformer.get("options") if isinstance(transformer, dict) else None
    return options if isinstance(options, dict) else {}


def _as_input(raw: dict[str, Any]) -> str:
    """The text a transformer reads of an item test's result: its values as JSON, its text, or its file's text."""
    found = raw.get("content")
    return found if isinstance(found, str) else msgspec.json.encode(found or []).decode()


async def _read_item(ctx: CommandContext, content: dict[str, Any]) -> dict[str, Any]:
    """The item variant: the South's worker reads the item described (secrets decrypted) once."""
    from engine.oianalytics.handlers import decrypt_connector

    south_id = content.get("southId")
    if not isinstance(south_id, str) or not south_id:
        raise SettingsError({"southId": "required"})
    south_type = content.get("southType") or await asyncio.to_thread(
        ctx.store.connectors.connector_type, "south", south_id
    )
    item = {"name": content.get("itemName") or "test", "settings": content.get("itemSettings")}
    decrypted = decrypt_connector(ctx, "south", {"settings": content.get("southSettings"), "items": [item]}, south_type)
    params: dict[str, Any] = {
        "item": {
            "id": None,
            "name": item["name"],
            "settings": await asyncio.to_thread(
                ctx.store.souths.candidate_item_settings, south_id, decrypted["items"][0].get("settings")
            ),
        }
    }
    if content.get("southSettings") is not None:
        params["settings"] = await asyncio.to_thread(
            ctx.store.connectors.candidate_settings, "south", south_id, decrypted["settings"]
        )
    history = (content.get("testingSettings") or {}).get("history")
    if isinstance(history, dict):
        params["startTime"], params["endTime"] = history.get("startTime"), history.get("endTime")
    found = await ctx.runtime.worker_request("south", south_id, "test_item", params, timeout_s=120.0)
    if not isinstance(found, dict):
        raise SettingsError({"southId": "the South's item test gave no result"})
    return found
