"""Engine routes: settings (3.9 nested, 3.8 flat accepted), partial updates, info and public status."""

from __future__ import annotations

from aiohttp import web

from connectors.errors import SettingsError
from engine.api.keys import INFO, RUNTIME, STORE
from engine.api.util import actor, json_response, no_content, offload, read_json
from engine.config.models import EngineSettingsDTO, WebServerChange

routes = web.RouteTableDef()


@routes.get("/api/engine")
async def get_engine(request: web.Request) -> web.Response:
    """Engine settings (secrets blank)."""
    return json_response(await offload(request.app[STORE].engine_settings_dto))


@routes.put("/api/engine")
async def put_engine(request: web.Request) -> web.Response:
    """Replace engine settings; sections left out keep their values."""
    body = await read_json(request)
    await offload(request.app[STORE].update_engine_settings, body, actor=actor(request))
    await request.app[RUNTIME].engine_settings_changed()
    return no_content()


def _within(section: str, errors: dict[str, str]) -> dict[str, str]:
    """Paths of the settings errors as seen from a section's own body (``general.name`` -> ``name``)."""
    relative: dict[str, str] = {}
    for path, problem in errors.items():
        if path == section:
            path = "body"
        elif path.startswith(f"{section}."):
            path = path.removeprefix(f"{section}.")
        relative[path] = problem
    return relative


async def _put_section(request: web.Request, section: str) -> EngineSettingsDTO:
    body = await read_json(request)
    try:
        updated = await offload(request.app[STORE].update_engine_settings, {section: body}, actor=actor(request))
    except SettingsError as err:
        # The client sent the section alone: name the fields of its body, not of the whole settings.
        raise SettingsError(_within(section, err.errors)) from err
    await request.app[RUNTIME].engine_settings_changed()
    return updated


def _section_route(path: str, section: str, doc: str) -> None:
    """Add ``PUT path``: its body replaces the engine settings section ``section``; 204."""

    async def put_section(request: web.Request) -> web.Response:
        await _put_section(request, section)
        return no_content()

    put_section.__doc__ = doc
    routes.put(path)(put_section)


_section_route("/api/engine/name", "general", "Rename the engine (body ``{name}``).")
_section_route(
    "/api/engine/proxy", "proxyServer", "Change the built-in proxy settings (an empty password keeps the stored one)."
)
_section_route(
    "/api/engine/logger", "logger", "Change the log levels and sinks (an empty Loki password keeps the stored one)."
)


@routes.put("/api/engine/web-server")
async def put_engine_web_server(request: web.Request) -> web.Response:
    """Change port and token lifetime; tells the UI whether it must follow the port."""
    before = (await offload(request.app[STORE].engine_settings_dto)).web_server.port
    after = (await _put_section(request, "webServer")).web_server.port
    return json_response(WebServerChange(needs_redirect=after != before, new_port=after))


@routes.get("/api/engine/info")
async def get_engine_info(request: web.Request) -> web.Response:
    """``OIBusInfo``: versions, folders, process and host facts; ``defaultPasswordInUse`` is ours."""
    store = request.app[STORE]
    settings = await offload(store.engine_settings_dto)
    info = request.app[INFO].to_dto(oibus_id=store.engine_id, oibus_name=settings.general.name)
    info["defaultPasswordInUse"] = await offload(store.users.default_password_in_use)
    return json_response(info)


@routes.get("/api/engine/status")
async def get_engine_status(request: web.Request) -> web.Response:
    """Public liveness probe: 204 while the API answers."""
    return no_content()


@routes.get("/api/status")
async def get_status(request: web.Request) -> web.Response:
    """Public liveness probe (legacy path)."""
    return no_content()
