"""Issue 7, acceptance 3 with a real peer: an MQTT password sent encrypted by OIAnalytics, and kept secret.

The password arrives RSA-OAEP encrypted in commands, works against a private Mosquitto that checks it, and
appears in no message, log or API answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine_process import north_body, scan_mode_id
from oia_support import assert_secret_nowhere, registered_engine, wait_until
from servers.mosquitto import Mosquitto, private_mosquitto, publish
from servers.oianalytics import FakeOIAnalytics
from test_commands_functional import Commands

USER = "oibus"
PASSWORD = "mqtt-pw-from-oia-93b1"
TOPIC = "plant/secret-test"


def mqtt_south(broker: Mosquitto, password: str) -> dict[str, Any]:
    return {
        "name": "Broker",
        "type": "mqtt",
        "description": "",
        "enabled": True,
        "settings": {
            "url": broker.url,
            "qos": "1",
            "persistent": True,
            "authentication": {"type": "basic", "username": USER, "password": password},
            "rejectUnauthorized": False,
            "reconnectPeriod": 1000,
            "connectTimeout": 5000,
            "maxNumberOfMessages": 100,
            "flushMessageTimeout": 100,
        },
        "items": [
            {
                "name": "value",
                "enabled": True,
                "scanModeId": "subscription",
                "settings": {"topic": TOPIC, "valueType": "number"},
            }
        ],
        "groups": [],
    }


def values_in(folder: Path) -> list[float]:
    found: list[float] = []
    for path in folder.glob("*.json"):
        try:
            found += [float(value["data"]["value"]) for value in json.loads(path.read_bytes())]
        except (OSError, ValueError):
            continue  # being renamed into place
    return found


def test_an_encrypted_mqtt_password_from_oianalytics_works_and_stays_secret(tmp_path: Path) -> None:
    fake = FakeOIAnalytics()
    output = tmp_path / "out"
    output.mkdir()
    with (
        private_mosquitto(tmp_path / "broker", users={USER: PASSWORD}) as broker,
        fake,
        registered_engine(tmp_path, fake) as engine,
    ):
        commands = Commands(fake, engine.ok("GET", "/api/engine/info")["version"])
        every_second = scan_mode_id(engine, "Every second")
        writer = north_body(
            "Writer", "file-writer", {"outputFolder": str(output), "prefix": "", "suffix": ""}, every_second
        )
        commands.completed("create-north", retrieveSecretsFromNorth=None, commandContent=writer)

        commands.completed(
            "create-south", retrieveSecretsFromSouth=None, commandContent=mqtt_south(broker, fake.encrypt(PASSWORD))
        )
        south = next(c["id"] for c in engine.ok("GET", "/api/south") if c["name"] == "Broker")
        engine.wait_state("south", south, "RUNNING")
        # The broker checks the password: a wrong one fails the connection test, the decrypted one passes.
        wrong = mqtt_south(broker, fake.encrypt("wrong-password"))
        commands.errored("test-south-connection", "authori", southConnectorId=south, commandContent=wrong)
        right = mqtt_south(broker, fake.encrypt(PASSWORD))
        commands.completed("test-south-connection", southConnectorId=south, commandContent=right)
        publish(broker.port, TOPIC, ["42.5"], options={"username": USER, "password": PASSWORD})
        wait_until(lambda: 42.5 in values_in(output), what="the value published on the password-protected broker")
        # A full-config message went out after the change: the password is not in it, nor anywhere else.
        wait_until(lambda: len(fake.configurations) >= 2, what="full-config after the South was created")
        assert_secret_nowhere(PASSWORD, engine, fake)
