"""Every OIAnalytics command type end to end: the fake queues it, a real registered engine runs and reports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from engine_process import EngineProcess, north_body, scan_mode_id
from oia_support import assert_secret_nowhere, registered_engine, wait_until
from servers.oianalytics import FakeOIAnalytics

NORTH_SECRET = "oia-secret"  # the password the fake checks (FakeOIAnalytics.basic)
LOKI_SECRET = "loki-pw-31f9"
SMB_SECRET = "smb-pw-77c2"


class Commands:
    """Queue commands on the fake and wait for their final status."""

    def __init__(self, fake: FakeOIAnalytics, version: str) -> None:
        self.fake = fake
        self.version = version

    def send(self, command_type: str, **fields: Any) -> str:
        return self.fake.add_command(command_type, self.version, **fields)

    def final(self, command_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        found: dict[str, Any] = wait_until(
            lambda: self.fake.final_status(command_id), timeout_s, f"final status of {command_id}"
        )
        return found

    def completed(self, command_type: str, result: str | None = None, **fields: Any) -> dict[str, Any]:
        status = self.final(self.send(command_type, **fields))
        assert status["status"] == "COMPLETED", status
        if result is not None:
            assert status["result"] == result, status
        return status

    def errored(self, command_type: str, message: str, **fields: Any) -> dict[str, Any]:
        status = self.final(self.send(command_type, **fields))
        assert status["status"] == "ERRORED", status
        assert message in status["result"], status
        return status


def oia_north(fake: FakeOIAnalytics, mode: str, secret: str, name: str = "To OIA") -> dict[str, Any]:
    settings = {
        "useOiaModule": False,
        "timeout": 10,
        "compress": False,
        "specificSettings": {"host": fake.url, "accessKey": fake.basic[0], "secretKey": secret},
    }
    return north_body(name, "oianalytics", settings, mode)


def folder_south(input_dir: Path, mode: str, password: str) -> dict[str, Any]:
    return {
        "name": "Folder",
        "type": "folder-scanner",
        "description": "",
        "enabled": True,
        "settings": {"inputFolder": str(input_dir), "compression": False, "password": password},
        "items": [
            {
                "id": None,
                "name": "csv files",
                "enabled": True,
                "scanModeId": mode,
                "settings": {"regex": ".*\\.csv", "minAge": 0, "preserveFiles": True, "maxFiles": 0, "maxSize": 0},
            }
        ],
        "groups": [],
    }


def by_name(engine: EngineProcess, kind: str, name: str) -> str:
    return str(next(c["id"] for c in engine.ok("GET", f"/api/{kind}") if c["name"] == name))


def test_every_command_type(tmp_path: Path) -> None:
    """Acceptance 2 and 3: each type gets the right status; an RSA-encrypted password works and leaks nowhere."""
    fake = FakeOIAnalytics()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with fake, registered_engine(tmp_path, fake) as engine:
        commands = Commands(fake, engine.ok("GET", "/api/engine/info")["version"])
        every_second = scan_mode_id(engine, "Every second")

        # Engine settings (the Loki password arrives encrypted), scan modes, IP filters.
        commands.completed("update-engine-general", "Engine name updated successfully", commandContent={"name": "OIA"})
        logger = {
            "oia": {"level": "info", "interval": 1},
            "loki": {"level": "silent", "password": fake.encrypt(LOKI_SECRET)},
        }
        commands.completed("update-engine-logger", commandContent=logger)
        proxy = {"enabled": False, "port": 9000, "username": None, "password": None}
        commands.completed("update-engine-proxy", commandContent=proxy)
        web_server = {"port": engine.port, "authTokenDuration": "1d"}
        commands.completed("update-engine-web-server", commandContent=web_server)
        assert engine.ok("GET", "/api/engine")["general"]["name"] == "OIA"
        commands.completed(
            "create-scan-mode", commandContent={"name": "oia-mode", "description": "", "cron": "* * * * * *"}
        )
        mode = scan_mode_id(engine, "oia-mode")
        content = {"name": "oia-mode", "description": "changed", "cron": "*/2 * * * * *"}
        commands.completed(
            "update-scan-mode", "Scan mode updated successfully", scanModeId=mode, commandContent=content
        )
        commands.errored("update-scan-mode", "cron", scanModeId=mode, commandContent={**content, "cron": "nope"})
        # v3.10: an interval scan mode with an activation window, and a bad window named by its field.
        window = {"recurring": {"timezone": "Europe/Paris", "daysOfWeek": [1, 2], "timeOfDay": None}}
        timed = {**content, "type": "interval", "interval": {"value": 500, "unit": "ms"}, "activationWindow": window}
        commands.completed("update-scan-mode", scanModeId=mode, commandContent=timed)
        stored = engine.ok("GET", f"/api/scan-modes/{mode}")
        assert (stored["type"], stored["cron"], stored["interval"]) == ("interval", "", {"value": 500, "unit": "ms"})
        assert stored["activationWindow"]["recurring"]["daysOfWeek"] == [1, 2]
        bad_window = {**timed, "activationWindow": {"recurring": {"timezone": "Nowhere/City"}}}
        commands.errored(
            "update-scan-mode", "activationWindow.recurring.timezone", scanModeId=mode, commandContent=bad_window
        )

        def sent_interval() -> bool:
            modes = [m for config in fake.configurations for m in config["scanModes"] if m["oIBusInternalId"] == mode]
            return any(m["settings"].get("interval") == {"value": 500, "unit": "ms"} for m in modes)

        wait_until(sent_interval, what="full-config carrying the interval scan mode")
        commands.completed("create-ip-filter", commandContent={"address": "10.0.0.*", "description": "lan"})
        ip_filter = next(f["id"] for f in engine.ok("GET", "/api/ip-filters") if f["address"] == "10.0.0.*")
        commands.completed(
            "update-ip-filter", ipFilterId=ip_filter, commandContent={"address": "10.0.1.*", "description": ""}
        )
        commands.completed("delete-ip-filter", "IP Filter deleted successfully", ipFilterId=ip_filter)
        options = {"commonName": "oibus", "countryName": "FR", "keySize": 2048, "daysBeforeExpiry": 30}
        commands.completed(
            "create-certificate", "Certificate created successfully", commandContent={"name": "c", "options": options}
        )
        certificate = next(c for c in engine.ok("GET", "/api/certificates") if c["name"] == "c")
        regenerate = {"name": "c2", "description": "renewed", "regenerateCertificate": True, "options": options}
        commands.completed("update-certificate", certificateId=certificate["id"], commandContent=regenerate)
        renewed = engine.ok("GET", f"/api/certificates/{certificate['id']}")
        assert renewed["name"] == "c2" and renewed["certificate"] != certificate["certificate"]
        commands.errored("create-certificate", "options", commandContent={"name": "c3"})
        commands.completed("delete-certificate", "Certificate deleted successfully", certificateId=certificate["id"])
        assert engine.ok("GET", "/api/certificates") == []

        # Norths: an oianalytics North whose Basic password arrives RSA-encrypted, and a console for setpoints.
        commands.completed(
            "create-north",
            "North connector created successfully",
            retrieveSecretsFromNorth=None,
            commandContent=oia_north(fake, every_second, fake.encrypt(NORTH_SECRET)),
        )
        oia = by_name(engine, "north", "To OIA")
        engine.wait_state("north", oia, "RUNNING")
        values = [{"pointId": "p1", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 1.5}}]
        status, _ = engine.request(
            "POST", f"/api/content/content?dataSourceId=api&northId={oia}", {"type": "time-values", "content": values}
        )
        assert status in (200, 204)
        wait_until(lambda: fake.values, what="values with the decrypted Basic password")
        assert fake.values[0][0] == "To OIA" and fake.values[0][1] == values
        commands.completed(
            "test-north-connection",
            '{"items":[]}',
            northConnectorId=oia,
            commandContent=oia_north(fake, every_second, ""),
        )
        commands.errored(
            "test-north-connection",
            "401",
            northConnectorId=oia,
            commandContent=oia_north(fake, every_second, fake.encrypt("wrong-password")),
        )
        commands.completed("update-north", northConnectorId=oia, commandContent=oia_north(fake, every_second, ""))
        commands.completed(
            "create-north",
            retrieveSecretsFromNorth=None,
            commandContent=north_body("Console", "console", {"verbose": False}, every_second),
        )
        console = by_name(engine, "north", "Console")
        engine.wait_state("north", console, "RUNNING")
        setpoints = [{"reference": "valve-1", "value": "42"}]
        done = commands.completed("setpoint", northConnectorId=console, commandContent=setpoints)
        assert (
            done["result"]
            == f'Setpoint [{{"reference":"valve-1","value":"42"}}] properly sent into the cache of {console}'
        )
        commands.errored("setpoint", "takes no setpoints", northConnectorId=oia, commandContent=setpoints)
        search = commands.completed(
            "search-north-cache-content", northConnectorId=oia, commandContent={"maxNumberOfFilesReturned": 10}
        )
        assert set(msgspec.json.decode(search["result"])) == {"metrics", "searchDate", "cache", "error", "archive"}
        commands.errored(
            "get-north-cache-file-content",
            "No entry",
            northConnectorId=oia,
            commandContent={"folder": "cache", "filename": "nope"},
        )
        commands.completed(
            "update-north-cache-content", "Cache updated successfully", northConnectorId=oia, commandContent={}
        )

        # Souths: create with an encrypted SMB password, test, items from CSV, update.
        commands.completed(
            "create-south",
            retrieveSecretsFromSouth=None,
            commandContent=folder_south(inbox, mode, fake.encrypt(SMB_SECRET)),
        )
        south = by_name(engine, "south", "Folder")
        engine.wait_state("south", south, "RUNNING")
        south_command = folder_south(inbox, mode, "")
        commands.completed(
            "test-south-connection", '{"items":[]}', southConnectorId=south, commandContent=south_command
        )
        item_command = south_command["items"][0]
        commands.completed(
            "test-south-item",
            southConnectorId=south,
            itemId="",
            commandContent={"southCommand": south_command, "itemCommand": item_command, "testingSettings": {}},
        )
        csv_content = (
            "name,enabled,scanMode,settings_regex,settings_minAge,settings_preserveFiles,settings_maxFiles,"
            "settings_maxSize\ntxt files,true,oia-mode,.*\\.txt,0,false,10,0\n"
        )
        commands.completed(
            "create-or-update-south-items-from-csv",
            "1 items imported on South connector Folder",
            southConnectorId=south,
            deleteItemsNotPresent=False,
            csvContent=csv_content,
            delimiter=",",
        )
        assert {item["name"] for item in engine.ok("GET", f"/api/south/{south}/items/list")} == {
            "csv files",
            "txt files",
        }
        commands.errored(
            "create-or-update-south-items-from-csv",
            "does not correspond",
            southConnectorId=south,
            deleteItemsNotPresent=False,
            csvContent=csv_content.replace(",", ";"),
            delimiter=",",
        )
        commands.completed("update-south", southConnectorId=south, commandContent=south_command)
        commands.errored(
            "update-south",
            "settings.inputFolder",
            southConnectorId=south,
            commandContent={**south_command, "settings": {"compression": False}},
        )

        # An unknown history query, unknown, wrong version, unpermitted (each history-query command is
        # run in test_history_commands_functional).
        # (sent together: one refresh cycle fetches them all, the executor runs them in order)
        missing = commands.send("delete-history-query", historyId="h1")
        coffee = commands.send("make-coffee")
        wrong_version = fake.add_command("delete-scan-mode", "0.0.1", scanModeId=mode)
        report = commands.final(missing)
        assert report["status"] == "ERRORED" and "History query h1 not found" in report["result"], report
        assert commands.final(coffee)["result"] == "Unknown command type make-coffee"
        report = commands.final(wrong_version)
        assert report["status"] == "ERRORED" and report["result"].startswith("Wrong target version: 0.0.1")
        permissions = engine.ok("GET", "/api/oianalytics/registration")["commandPermissions"]
        settings = {"commandRefreshInterval": 1, "commandRetryInterval": 1, "messageRetryInterval": 1}
        commands.completed(
            "update-registration-settings",
            "Registration settings updated successfully",
            commandContent={**settings, "commandPermissions": {**permissions, "deleteScanMode": False}},
        )
        refused = commands.errored("delete-scan-mode", "is not authorized", scanModeId=mode)
        assert refused["result"] == f"Command {refused['id']} of type delete-scan-mode is not authorized"
        assert scan_mode_id(engine, "oia-mode") == mode  # not executed

        # Custom transformers: created, updated, tested in the sandbox and deleted by command.
        transformer = {
            "type": "custom",
            "name": "double",
            "description": "",
            "inputType": "time-values",
            "outputType": "time-values",
            "customCode": "function transform(c) { return { data: JSON.parse(c).length * 2, numberOfElement: 1 }; }",
            "customManifest": {},
            "language": "javascript",
            "timeout": 2000,
        }
        commands.completed("create-custom-transformer", "Transformer created successfully", commandContent=transformer)
        (created,) = engine.ok("GET", "/api/transformers/search?type=custom")["content"]
        changed = {**transformer, "description": "from OIAnalytics"}
        commands.completed(
            "update-custom-transformer",
            "Transformer updated successfully",
            transformerId=created["id"],
            commandContent=changed,
        )
        assert engine.ok("GET", f"/api/transformers/{created['id']}")["description"] == "from OIAnalytics"
        commands.completed(
            "update-registration-settings",
            "Registration settings updated successfully",
            commandContent={
                **settings,
                "commandPermissions": {**permissions, "deleteScanMode": False, "testCustomTransformer": True},
            },
        )
        tested = commands.completed(
            "test-custom-transformer",
            commandContent={"command": transformer, "testRequest": {"inputData": "[1, 2, 3]", "options": {}}},
        )
        assert msgspec.json.decode(tested["result"])["output"] == "6"

        # test-transformer: a stored custom one and a standard one on a sample, then on an item's fresh read.
        tested = commands.completed(
            "test-transformer", transformerId=created["id"], commandContent={"inputData": "[1, 2, 3]"}
        )
        dual = msgspec.json.decode(tested["result"])
        assert dual["raw"] == {"type": "time-values", "content": [1, 2, 3], "truncated": False, "totalSize": 3}
        assert dual["transformed"] == {"type": "time-values", "content": "6", "truncated": False, "totalSize": 1}
        assert set(dual) == {"raw", "transformed", "connectionDuration", "queryDuration"}
        sample = '[{"pointId":"p1","timestamp":"2026-01-01T00:00:00.523Z","data":{"value":1,"quality":"good"}}]'
        tested = commands.completed(
            "test-transformer",
            transformerId="time-values-to-oianalytics",
            commandContent={"inputData": sample, "options": {"precision": "s"}},
        )
        assert msgspec.json.decode(tested["result"])["transformed"]["content"] == [
            {"pointId": "p1", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 1}}
        ]
        upper = {**transformer, "name": "upper", "inputType": "any", "outputType": "any"}
        upper["customCode"] = "function transform(c) { return { data: c.toUpperCase(), numberOfElement: 1 }; }"
        commands.completed("create-custom-transformer", commandContent=upper)
        upper_id = next(
            t["id"] for t in engine.ok("GET", "/api/transformers/search?type=custom")["content"] if t["name"] == "upper"
        )
        (inbox / "probe.json").write_text("{}")
        item_settings = {"regex": ".*\\.json", "minAge": 0, "preserveFiles": True, "maxFiles": 0, "maxSize": 0}
        tested = commands.completed(
            "test-transformer",
            transformerId=upper_id,
            commandContent={
                "southId": south,
                "southType": "folder-scanner",
                "itemName": "probe",
                "southSettings": south_command["settings"],
                "itemSettings": item_settings,
                "testingSettings": {"transformer": {"transformerId": upper_id, "options": {}}},
            },
        )
        dual = msgspec.json.decode(tested["result"])
        # The folder scanner's item test lists the files it would take, as time-values (upstream's shape).
        assert dual["raw"]["type"] == "time-values"
        assert [value["data"]["value"] for value in dual["raw"]["content"]] == ["probe.json"]
        assert dual["transformed"]["type"] == "any"
        assert '"VALUE":"PROBE.JSON"' in dual["transformed"]["content"]
        commands.errored(
            "test-transformer", "not found", transformerId="no-such-one", commandContent={"inputData": "[]"}
        )
        commands.completed("delete-custom-transformer", transformerId=upper_id)
        commands.completed("delete-custom-transformer", "Transformer deleted successfully", transformerId=created["id"])
        assert engine.ok("GET", "/api/transformers/search?type=custom")["content"] == []

        # Key rotation: OIAnalytics learns the new key; a secret encrypted with the old one is refused.
        old_key = fake.registrations[-1]["publicKey"]
        stale = fake.encrypt("whatever")
        commands.completed("regenerate-cipher-keys", "OIAnalytics keys reloaded")
        wait_until(lambda: fake.configurations[-1]["registration"]["publicKey"] != old_key, what="new public key")
        commands.errored(
            "create-north",
            "specificSettings.secretKey",
            retrieveSecretsFromNorth=None,
            commandContent=oia_north(fake, every_second, stale, name="Stale"),
        )
        commands.completed("delete-south", "South connector deleted successfully", southConnectorId=south)
        commands.completed("delete-north", "North connector deleted successfully", northConnectorId=console)

        # Acceptance 3: the three passwords are in no message, log line or API answer.
        wait_until(lambda: any(entry["message"].startswith("oianalytics_command") for entry in fake.logs), what="logs")
        for secret in (NORTH_SECRET, LOKI_SECRET, SMB_SECRET):
            assert_secret_nowhere(secret, engine, fake)
        assert fake.problems == []

        # Restart last: COMPLETED is reported, then the engine exits 0 (the launcher would start it again).
        commands.completed("restart-engine", "OIBus restarted")
        assert engine.proc is not None and engine.proc.wait(30) == 0


def test_cancelled_command_is_not_executed(tmp_path: Path) -> None:
    """A command OIAnalytics cancels while it waits behind a slow one is reported CANCELLED and never runs."""
    fake = FakeOIAnalytics()
    with fake, registered_engine(tmp_path, fake) as engine:
        commands = Commands(fake, engine.ok("GET", "/api/engine/info")["version"])
        every_second = scan_mode_id(engine, "Every second")
        commands.completed(
            "create-north",
            retrieveSecretsFromNorth=None,
            commandContent=oia_north(fake, every_second, fake.encrypt(NORTH_SECRET)),
        )
        oia = by_name(engine, "north", "To OIA")
        engine.wait_state("north", oia, "RUNNING")
        fake.status_delay_s = 4.0
        slow = commands.send(
            "test-north-connection", northConnectorId=oia, commandContent=oia_north(fake, every_second, "")
        )
        wait_until(
            lambda: any(e["status"] == "RUNNING" for e in fake.reported(slow)) or fake.final_status(slow),
            what="slow RUNNING",
        )
        victim = commands.send(
            "create-scan-mode", commandContent={"name": "never", "description": "", "cron": "* * * * * *"}
        )
        wait_until(lambda: fake.reported(victim), what="victim RETRIEVED")
        fake.cancelled.add(victim)
        assert commands.final(victim)["status"] == "CANCELLED"
        assert commands.final(slow)["status"] == "COMPLETED"
        assert [e["status"] for e in fake.reported(victim)] == ["RETRIEVED", "CANCELLED"]
        assert all(mode["name"] != "never" for mode in engine.ok("GET", "/api/scan-modes"))
        assert fake.problems == []
