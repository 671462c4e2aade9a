"""Scan mode routes: CRUD, refusals, the cron check, runtime reloads."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    client_fixture,
    runtime_fixture,
    scan_mode_id,
    south_body,
    store_fixture,
)

from engine.config import ConfigStore


async def test_crud_and_reloads(client: Client, runtime: RecordingRuntime) -> None:
    modes = await (await client.get("/api/scan-modes", headers=AUTH)).json()
    assert len(modes) == 7
    response = await client.post(
        "/api/scan-modes", json={"name": "Fast", "description": "", "cron": "*/2 * * * * *"}, headers=AUTH
    )
    assert response.status == 201
    created = await response.json()
    assert runtime.calls == [("reload_scan_modes", "")]
    path = f"/api/scan-modes/{created['id']}"
    assert (await (await client.get(path, headers=AUTH)).json())["cron"] == "*/2 * * * * *"
    assert (await client.put(path, json={"name": "Fast", "cron": "*/3 * * * * *"}, headers=AUTH)).status == 204
    assert (await client.delete(path, headers=AUTH)).status == 204
    assert runtime.calls == [("reload_scan_modes", "")] * 3
    assert (await client.get(path, headers=AUTH)).status == 404


async def test_invalid_changes_call_nothing(client: Client, runtime: RecordingRuntime) -> None:
    response = await client.post("/api/scan-modes", json={"name": "Bad", "cron": "* * * * * * *"}, headers=AUTH)
    assert response.status == 400
    assert "cron" in (await response.json())["errors"]
    response = await client.put("/api/scan-modes/subscription", json={"name": "x", "cron": "* * * * * *"}, headers=AUTH)
    assert response.status == 400
    assert (await response.json()) == {"message": "The subscription scan mode cannot be changed"}
    assert runtime.calls == []


async def test_delete_in_use_is_refused(client: Client, store: ConfigStore) -> None:
    store.souths.create_south(south_body(store, name="Press", items=1))
    response = await client.delete(f"/api/scan-modes/{scan_mode_id(store)}", headers=AUTH)
    assert response.status == 400
    assert "South 'Press' (1 item)" in (await response.json())["message"]


async def test_verify(client: Client) -> None:
    response = await client.post("/api/scan-modes/verify", json={"cron": "*/10 * * * * *"}, headers=AUTH)
    body = await response.json()
    assert body["isValid"] is True and body["errorMessage"] == ""
    assert len(body["nextExecutions"]) == 3 and all(run.endswith("Z") for run in body["nextExecutions"])
    assert body["humanReadableForm"] == "every 10 seconds"
    response = await client.post("/api/scan-modes/verify", json={"cron": "0 0 0 ? * *"}, headers=AUTH)
    body = await response.json()
    assert body["isValid"] is False and "'?'" in body["errorMessage"] and body["nextExecutions"] == []
    response = await client.post("/api/scan-modes/verify", json={}, headers=AUTH)
    assert response.status == 400


async def test_verify_lists_as_many_runs_as_asked(client: Client) -> None:
    response = await client.post("/api/scan-modes/verify", json={"cron": "*/10 * * * * *", "count": 5}, headers=AUTH)
    runs = (await response.json())["nextExecutions"]
    assert len(runs) == 5 and runs == sorted(runs)
    for bad in (0, 11, "5"):
        response = await client.post("/api/scan-modes/verify", json={"cron": "* * * * * *", "count": bad}, headers=AUTH)
        assert response.status == 400, bad
        assert "count" in await response.text()


async def test_interval_and_activation_window_round_trip(client: Client, runtime: RecordingRuntime) -> None:
    window = {
        "dateRange": {"start": "2026-01-01T00:00:00.000Z", "end": None},
        "recurring": {
            "timezone": "Europe/Paris",
            "daysOfWeek": [1, 5],
            "timeOfDay": {"start": "22:00", "end": "02:00"},
        },
    }
    body = {"name": "Half", "type": "interval", "interval": {"value": 500, "unit": "ms"}, "activationWindow": window}
    response = await client.post("/api/scan-modes", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert (created["type"], created["cron"], created["interval"]) == ("interval", "", {"value": 500, "unit": "ms"})
    assert created["activationWindow"]["recurring"]["timeOfDay"] == {"start": "22:00", "end": "02:00"}
    assert created["activationWindowExpired"] is False
    listed = {mode["id"]: mode for mode in await (await client.get("/api/scan-modes", headers=AUTH)).json()}
    assert listed[created["id"]]["interval"] == {"value": 500, "unit": "ms"}
    # Every pre-3.10 scan mode is a cron with no window.
    assert all(
        mode["type"] == "cron" and mode["activationWindow"] is None
        for mode in listed.values()
        if mode != listed[created["id"]]
    )

    # Back to a cron: the interval is dropped; a past end date is flagged, not refused.
    past = {"dateRange": {"start": None, "end": "2020-01-01T00:00:00Z"}}
    changed = {
        "name": "Half",
        "type": "cron",
        "cron": "* * * * * *",
        "interval": {"value": 1, "unit": "s"},
        "activationWindow": past,
    }
    path = f"/api/scan-modes/{created['id']}"
    assert (await client.put(path, json=changed, headers=AUTH)).status == 204
    stored = await (await client.get(path, headers=AUTH)).json()
    assert (stored["type"], stored["cron"], stored["interval"], stored["activationWindowExpired"]) == (
        "cron",
        "* * * * * *",
        None,
        True,
    )


async def test_bad_intervals_and_windows_name_their_fields(client: Client, runtime: RecordingRuntime) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"type": "interval"}, "interval"),
        ({"type": "interval", "interval": {"value": 10, "unit": "ms"}}, "interval.value"),
        ({"type": "interval", "interval": {"value": 1, "unit": "day"}}, "interval.unit"),
        ({"type": "interval", "interval": {"value": 0, "unit": "s"}}, "interval.value"),
        ({"type": "weekly", "cron": "* * * * * *"}, "type"),
        (
            {"cron": "* * * * * *", "activationWindow": {"dateRange": {"start": "soon"}}},
            "activationWindow.dateRange.start",
        ),
        (
            {"cron": "* * * * * *", "activationWindow": {"recurring": {"timezone": "UTC", "daysOfWeek": [9]}}},
            "activationWindow.recurring.daysOfWeek[0]",
        ),
        (
            {"cron": "* * * * * *", "activationWindow": {"recurring": {"daysOfWeek": [1]}}},
            "activationWindow.recurring.timezone",
        ),
    ]
    for extra, field in cases:
        response = await client.post("/api/scan-modes", json={"name": "Bad", **extra}, headers=AUTH)
        assert response.status == 400, extra
        errors = (await response.json())["errors"]
        assert field in errors, (extra, errors)
    assert runtime.calls == []


async def test_verify_an_interval_lists_the_ticks_its_window_lets_through(client: Client) -> None:
    body = {"type": "interval", "interval": {"value": 500, "unit": "ms"}, "count": 4}
    response = await client.post("/api/scan-modes/verify", json=body, headers=AUTH)
    answer = await response.json()
    assert answer["isValid"] is True and answer["humanReadableForm"] == "every 500 milliseconds"
    runs = [datetime.fromisoformat(run.replace("Z", "+00:00")) for run in answer["nextExecutions"]]
    assert [later - earlier for earlier, later in itertools.pairwise(runs)] == [timedelta(milliseconds=500)] * 3
    # Wednesdays 09:00-09:30 in Paris: every listed run falls inside, whenever the test runs.
    window = {
        "recurring": {"timezone": "Europe/Paris", "daysOfWeek": [3], "timeOfDay": {"start": "09:00", "end": "09:30"}}
    }
    body = {"type": "interval", "interval": {"value": 10, "unit": "min"}, "activationWindow": window, "count": 5}
    answer = await (await client.post("/api/scan-modes/verify", json=body, headers=AUTH)).json()
    assert answer["isValid"] is True and answer["humanReadableForm"].endswith("while the activation window is open")
    assert len(answer["nextExecutions"]) == 5
    for run in answer["nextExecutions"]:
        local = datetime.fromisoformat(run.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/Paris"))
        assert local.isoweekday() == 3 and time(9, 0) <= local.time() < time(9, 30), local
    # A cron is gated the same way.
    body = {"cron": "0 0 * * * *", "activationWindow": window, "count": 3}
    answer = await (await client.post("/api/scan-modes/verify", json=body, headers=AUTH)).json()
    assert [
        datetime.fromisoformat(r.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/Paris")).hour
        for r in answer["nextExecutions"]
    ] == [9, 9, 9]


async def test_verify_names_what_is_wrong_in_an_interval_or_a_window(client: Client) -> None:
    body = {"type": "interval", "interval": {"value": 10, "unit": "ms"}}
    answer = await (await client.post("/api/scan-modes/verify", json=body, headers=AUTH)).json()
    assert answer["isValid"] is False and "interval.value" in answer["errorMessage"] and answer["nextExecutions"] == []
    body = {
        "type": "interval",
        "interval": {"value": 1, "unit": "s"},
        "activationWindow": {"recurring": {"timezone": "Mars/Olympus"}},
    }
    answer = await (await client.post("/api/scan-modes/verify", json=body, headers=AUTH)).json()
    assert answer["isValid"] is False and "activationWindow.recurring.timezone" in answer["errorMessage"]
    response = await client.post("/api/scan-modes/verify", json={"type": "interval"}, headers=AUTH)
    assert (await response.json())["isValid"] is False
    response = await client.post(
        "/api/scan-modes/verify", json={"type": "interval", "interval": {"value": 1, "unit": "week"}}, headers=AUTH
    )
    assert response.status == 400 and "interval.unit" in await response.text()
    # A window that has ended: valid, but no run will follow, and the answer says so.
    ended = {"dateRange": {"start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"}}
    body = {"type": "interval", "interval": {"value": 1, "unit": "hour"}, "activationWindow": ended}
    answer = await (await client.post("/api/scan-modes/verify", json=body, headers=AUTH)).json()
    assert answer["isValid"] is True and answer["nextExecutions"] == [] and "ended" in answer["errorMessage"]
