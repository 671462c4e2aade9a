"""Acceptance 5: OIAnalytics unreachable for a while blocks nothing; what was due is delivered once it is back."""

from __future__ import annotations

from pathlib import Path

from engine_process import north_body, scan_mode_id
from oia_support import registered_engine, wait_until
from servers.oianalytics import FakeOIAnalytics

VALUES = [{"pointId": "p1", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 1}}]


def test_outage_blocks_nothing_and_everything_is_delivered_after(tmp_path: Path) -> None:
    fake, peer = FakeOIAnalytics(), FakeOIAnalytics()  # OIAnalytics, and a separate target of data
    with fake, peer, registered_engine(tmp_path, fake) as engine:
        version = engine.ok("GET", "/api/engine/info")["version"]
        engine.ok("PUT", "/api/engine", {"logger": {"oia": {"level": "info", "interval": 1}}})
        specific = {"host": peer.url, "accessKey": peer.basic[0], "secretKey": peer.basic[1]}
        settings = {"useOiaModule": False, "specificSettings": specific}
        north = engine.ok(
            "POST", "/api/north", north_body("Peer", "oianalytics", settings, scan_mode_id(engine, "Every second"))
        )
        engine.wait_state("north", north["id"], "RUNNING")
        wait_until(lambda: fake.logs, what="first logs")

        # A command that takes a while (its connection test waits on the peer); OIAnalytics goes away meanwhile.
        peer.status_delay_s = 3.0
        command = fake.add_command(
            "test-north-connection",
            version,
            northConnectorId=north["id"],
            commandContent={
                "name": "Peer",
                "type": "oianalytics",
                "settings": {**settings, "specificSettings": {**specific, "secretKey": ""}},
            },
        )
        wait_until(lambda: fake.reported(command), what="command retrieved")
        fake.go_offline()
        try:
            # Data keeps flowing, the API answers and takes changes, the command completes locally.
            for index in range(3):
                body = {"type": "time-values", "content": [{**VALUES[0], "data": {"value": index}}]}
                status, _ = engine.request("POST", f"/api/content/content?dataSourceId=api&northId={north['id']}", body)
                assert status in (200, 204)
            wait_until(lambda: len(peer.values) >= 3, what="values at the peer during the outage")
            engine.ok("PUT", "/api/engine/name", {"name": "Renamed during outage"})
            local = wait_until(
                lambda: engine.ok("GET", "/api/oianalytics/commands/search?status=COMPLETED")["content"],
                what="command completed locally",
            )
            assert local[0]["id"] == command and local[0]["ack"] is False
            assert fake.final_status(command) is None
        finally:
            fake.go_online()

        # Back: the status, the new configuration and the logs written during the outage arrive.
        final = wait_until(lambda: fake.final_status(command), what="status after the outage")
        assert final["status"] == "COMPLETED"
        wait_until(
            lambda: fake.configurations and fake.configurations[-1]["engine"]["name"] == "Renamed during outage",
            what="full-config after the outage",
        )
        wait_until(
            lambda: any("oianalytics_unreachable" in entry["message"] for entry in fake.logs),
            what="logs of the outage delivered after it",
        )
        wait_until(
            lambda: engine.ok("GET", "/api/oianalytics/commands/search?ack=false")["content"] == [],
            what="every status confirmed",
        )
        assert fake.problems == [] and peer.problems == []
