"""The five OIAnalytics custom-transformer commands: create, update, delete, test (and test one by id).

``test-custom-transformer`` carries ``{command: CustomTransformerCommandDTO, testRequest: {inputData,
options}}`` and answers ``JSON.stringify(TransformerTestResponse)``; it runs in a sandbox process of its own,
started for the command and stopped after it, so a tenant's test can never slow the routing sandbox.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from connectors.errors import SettingsError
from engine.config.validation import convert
from engine.sandbox.client import SandboxClient
from engine.sandbox.testing import CustomTransformerTest, run_custom

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
