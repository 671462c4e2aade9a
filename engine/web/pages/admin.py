"""The administration pages: IP filters, users (and one's own password), certificates, external sources, transformers.

Each is one ``Resource``: a list (the API's DTOs) and one form generated from the command struct the API
validates with, for creating and for editing a row. ``static/resource.js`` posts the form as JSON to the
API (``POST`` to create, ``PUT .../{id}`` to edit) and shows its field errors next to the fields they
name; deleting goes through ``DELETE .../{id}`` after a confirmation. A new page of this kind is one
``Resource`` line and its catalogue keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.config import ConfigStore
from engine.config.external_sources import ExternalSourceCommand
from engine.config.models import CertificateCommand, CustomTransformerCommand, IpFilterCommand, UserCreateCommand
from engine.web.forms import Field, fields
from engine.web.i18n import language
from engine.web.labels import labelled
from engine.web.render import WEB_USER, page, render

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class Resource:
    """One administration page: where it lives, what it lists and the struct its form is made from."""

    slug: str
    """Path of the page (``/ip-filters``) and prefix of its catalogue keys (``ip-filters.title``)."""
    api: str
    command: type[msgspec.Struct]
    columns: tuple[str, ...]
    """DTO fields shown in the table (camelCase), each labelled ``<slug>.f.<name>``."""
    rows: Callable[[ConfigStore], list[Any]]
    create_only: frozenset[str] = frozenset()
    """Form fields sent only when creating (a user's password: changed by its own form)."""
    secrets: frozenset[str] = frozenset()
    """Fields shown as password inputs although their struct does not mark them secret."""
    textareas: frozenset[str] = frozenset()
    """Fields of several lines (a PEM certificate, a transformer's code)."""
    hidden: frozenset[str] = frozenset()
    """Fields left out of the form (the API's default is the only value: a custom transformer's ``type``)."""
    script: str | None = None
    """A static file of the page's own (``transformers.js`` tests the transformer being edited)."""


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "ip-filters",
        "/api/ip-filters",
        IpFilterCommand,
        ("address", "description"),
        lambda store: store.ip_filters.list_ip_filters(),
    ),
    Resource(
        "users",
        "/api/users",
        UserCreateCommand,
        ("login", "firstName", "lastName", "email", "language"),
        lambda store: store.users.search_users().content,
        create_only=frozenset({"password"}),
        secrets=frozenset({"password"}),
    ),
    Resource(
        "certificates",
        "/api/certificates",
        CertificateCommand,
        ("name", "description", "expiry"),
        lambda store: store.certificates.list_certificates(),
        textareas=frozenset({"certificate"}),
    ),
    Resource(
        "external-sources",
        "/api/external-sources",
        ExternalSourceCommand,
        ("reference", "description"),
        lambda store: store.external_sources.list_external_sources(),
    ),
    Resource(
        "transformers",
        "/api/transformers",
        CustomTransformerCommand,
        ("name", "inputType", "outputType", "language"),
        lambda store: store.custom_transformers.list_custom_transformers(),
        textareas=frozenset({"customCode"}),
        hidden=frozenset({"type"}),
        script="transformers.js",
    ),
)


def form_fields(resource: Resource, lang: str) -> list[Field]:
    """The form of ``resource``, labelled in ``lang``, with its password inputs and text areas."""
    generated = fields(msgspec.json.schema(resource.command), None, "")

    def adjust(field: Field) -> Field:
        if field.path in resource.secrets:
            return replace(field, kind="secret", value="")
        if field.path in resource.textareas:
            return replace(field, kind="textarea")
        if field.kind == "select" and field.options and all(option.isdigit() for option in field.options):
            # A choice among numbers (a key size) is sent as a number, not as the option's text.
            return replace(field, kind="integer-select")
        return replace(field, children=tuple(adjust(child) for child in field.children))

    shown = [adjust(field) for field in generated if field.path not in resource.hidden]
    return labelled(shown, lang, f"{resource.slug}.f")


def _handler(resource: Resource) -> Callable[[web.Request], Any]:
    async def resource_page(request: web.Request) -> web.Response:
        found = await offload(resource.rows, request.app[STORE])
        rows = [msgspec.to_builtins(row) for row in found]
        context: dict[str, Any] = {
            "resource": resource,
            "rows": rows,
            "fields": form_fields(resource, language(request)),
            "me": request[WEB_USER].user_id,
        }
        return await render(request, "resource.html", context)

    resource_page.__name__ = resource_page.__qualname__ = f"{resource.slug.replace('-', '_')}_page"
    resource_page.__doc__ = f"The {resource.slug} list and its create/edit form."
    return resource_page


for _resource in RESOURCES:
    routes.get(f"/{_resource.slug}")(page(_handler(_resource)))
