"""The engine and administration pages on a real socket, the access rules on every page, and the catalogue.

Access rules (acceptance 6): a page without a session goes to login; an address outside the IP filters
is refused for pages, static files and live streams; a cross-site post (a wrong or missing CSRF token,
or a foreign ``Origin``) is refused. The catalogue: every key a template asks for exists in English, and
in French for the login, home and connector pages.
"""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import msgspec
import pytest
from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    api_client,
    client_fixture,
    runtime_fixture,
    store_fixture,
)
from test_web_session_functional import _hidden, _login

from engine.api.routes_sse import routes as sse_routes
from engine.config import ConfigStore
from engine.web.forms import fields
from engine.web.i18n import CATALOGUE
from engine.web.labels import missing_labels
from engine.web.nav import NAVIGATION
from engine.web.pages.admin import RESOURCES, form_fields
from engine.web.pages.engine import LABELS, SCHEMA
from engine.web.templating import TEMPLATES_DIR

ADMIN_PAGES = ("/engine", "/ip-filters", "/users", "/certificates", "/external-sources", "/scan-modes")
# The templates French must cover completely: every page (acceptance asks at least login, home and the
# connector pages).
FRENCH_TEMPLATES = tuple(sorted(path.name for path in TEMPLATES_DIR.glob("*.html")))
_KEY = re.compile(r"""\bt\(\s*(["'])([^"']+)\1\s*\)""")
_DYNAMIC = re.compile(r"""\bt\(\s*(\w+)\s*~\s*(["'])([^"']+)\2\s*\)""")


def _template_keys(name: str) -> set[str]:
    """The catalogue keys a template asks for; ``t(kind ~ ".title")`` counts for both kinds."""
    text = (TEMPLATES_DIR / name).read_text()
    keys = {match.group(2) for match in _KEY.finditer(text)}
    for match in _DYNAMIC.finditer(text):
        variable, suffix = match.group(1), match.group(3)
        prefixes = ("south", "north") if variable == "kind" else ()
        keys.update(f"{prefix}{suffix}" for prefix in prefixes)
    return keys


def test_every_key_of_every_template_is_in_english() -> None:
    for template in sorted(path.name for path in TEMPLATES_DIR.glob("*.html")):
        missing = sorted(key for key in _template_keys(template) if key not in CATALOGUE["en"])
        assert not missing, f"{template}: {missing}"
    assert all(entry.key in CATALOGUE["en"] for entry in NAVIGATION)


def test_login_home_and_connector_pages_are_all_in_french() -> None:
    keys = set().union(*(_template_keys(name) for name in FRENCH_TEMPLATES))
    keys.update(entry.key for entry in NAVIGATION)  # the navigation bar is on each of them
    assert len(keys) > 50
    missing = sorted(key for key in keys if key not in CATALOGUE["fr"])
    assert not missing, missing


def test_french_pages_have_no_untranslated_text() -> None:
    # Text written straight into a template cannot be translated: every word goes through t().
    # Brand names, each language's own name in the language switch, and the cron syntax and time units.
    cron = {"Cron", "(s", "m", "h", "dom", "mon", "dow)", "ms", "s", "min"}
    allowed = cron | {"OIBus", "OIAnalytics", "EN", "FR", "English", "Français", "·", "*", "\u2013", "/", "(", ")", ":"}
    for name in FRENCH_TEMPLATES:
        text = (TEMPLATES_DIR / name).read_text()
        text = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", text, flags=re.S)
        text = re.sub(r"<script.*?</script>|<[^>]+>", " ", text, flags=re.S)
        words = [word for word in text.split() if word not in allowed and re.search(r"[A-Za-z]", word)]
        assert not words, f"{name}: {words}"


def test_generated_forms_have_a_catalogue_label_for_every_field() -> None:
    assert not missing_labels(fields(SCHEMA, None, ""), LABELS)
    for resource in RESOURCES:
        generated = fields(msgspec.json.schema(resource.command), None, "")
        assert not missing_labels(generated, f"{resource.slug}.f"), resource.slug
        assert all(f"{resource.slug}.f.{column}" in CATALOGUE["en"] for column in resource.columns)
        assert [field.label for field in form_fields(resource, "en")] == [
            CATALOGUE["en"][f"{resource.slug}.f.{field.path}"]
            for field in generated
            if field.path not in resource.hidden
        ]


async def test_admin_pages_need_a_session_then_render(client: Client) -> None:
    for path in ADMIN_PAGES:
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login?next="), path
        assert response.headers["Location"].endswith(path.removeprefix("/")), path
    await _login(client)
    for path in ADMIN_PAGES:
        response = await client.get(path)
        assert response.status == 200, path
        html = await response.text()
        assert '<nav aria-label="main">' in html
        # The default-password banner is on every page until the password changes.
        assert 'class="banner warning"' in html, path


async def test_the_engine_form_is_filled_and_never_shows_a_secret(client: Client, store: ConfigStore) -> None:
    store.update_engine_settings(
        {"general": {"name": "Plant A"}, "logger": {"loki": {"address": "http://loki", "password": "loki-s3cret"}}}
    )
    await _login(client)
    html = await (await client.get("/engine")).text()
    assert 'value="Plant A"' in html
    assert 'name="logger.syslog.level"' in html and 'name="proxyServer.port"' in html
    assert "Console level" in html and "Built-in proxy" in html
    assert "loki-s3cret" not in html


async def test_admin_rows_are_listed_with_their_edit_data(client: Client, store: ConfigStore) -> None:
    store.ip_filters.create_ip_filter({"address": "10.0.0.*", "description": "plant <LAN>"})
    store.external_sources.create_external_source({"reference": "remote-1", "description": ""})
    await _login(client)
    html = await (await client.get("/ip-filters")).text()
    assert "10.0.0.*" in html and "plant &lt;LAN&gt;" in html
    assert "data-row=" in html and "<LAN>" not in html
    assert "remote-1" in await (await client.get("/external-sources")).text()
    users = await (await client.get("/users")).text()
    assert 'id="password-form"' in users and 'autocomplete="current-password"' in users


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
async def test_a_foreign_origin_is_refused_even_with_the_right_token(client: Client, origin: str) -> None:
    csrf = await _login(client)
    foreign = {"Origin": origin}
    response = await client.post("/logout", data={"csrf": csrf}, headers=foreign, allow_redirects=False)
    assert response.status == 403
    assert "Cross-site" in await response.text()
    response = await client.post(
        "/api/ip-filters", json={"address": "1.2.3.4"}, headers={"X-CSRF-Token": csrf, **foreign}
    )
    assert response.status == 403
    assert (await (await client.get("/api/ip-filters")).json()) == []
    form = await (await client.get("/login")).text()
    response = await client.post(
        "/login", data={"login": "admin", "password": "pass", "csrf": _hidden(form, "csrf")}, headers=foreign
    )
    assert response.status == 403
    # The same requests from the page's own origin pass.
    own = {"Origin": str(client.make_url("/")).rstrip("/")}
    response = await client.post("/api/ip-filters", json={"address": "1.2.3.4"}, headers={"X-CSRF-Token": csrf, **own})
    assert response.status == 201, await response.text()
    assert (await client.post("/logout", data={"csrf": csrf}, headers=own, allow_redirects=False)).status == 303


async def test_a_write_without_or_with_a_wrong_token_is_refused(client: Client) -> None:
    csrf = await _login(client)
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": csrf[:-1]}):
        response = await client.put("/api/engine", json={"general": {"name": "hijacked"}}, headers=headers)
        assert response.status == 403, headers
    settings = await (await client.get("/api/engine")).json()
    assert settings["general"]["name"] != "hijacked"


async def test_outside_the_ip_filters_pages_assets_and_streams_are_refused(
    store: ConfigStore, runtime: RecordingRuntime, tmp_path: Path
) -> None:
    store.ip_filters.create_ip_filter({"address": "127.0.0.3"})
    paths = (*ADMIN_PAGES, "/", "/login", "/static/resource.js", "/static/engine.js", "/sse/home", "/sse/engine")
    async with (
        api_client(store, runtime, extra_routes=[sse_routes]) as client,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as stranger,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))) as admitted,
    ):
        for path in paths:
            async with stranger.get(client.make_url(path), allow_redirects=False) as response:
                assert response.status == 401, path
        # The admitted address reaches the same paths (pages answer with the login redirect).
        for path in ("/login", "/static/resource.js", "/engine"):
            async with admitted.get(client.make_url(path), allow_redirects=False) as response:
                assert response.status in (200, 303), path
