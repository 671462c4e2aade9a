"""End to end: time-values posted to a real engine reach an MQTT subscriber through the MQTT North's rule."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from engine_process import EngineProcess, api_rule, north_body, scan_mode_id
from servers.mosquitto import private_mosquitto
from test_mqtt_north_functional import Subscriber


async def test_time_values_posted_to_the_engine_are_published_to_the_broker(tmp_path: Path) -> None:
    with private_mosquitto(tmp_path / "broker") as broker:
        subscriber = await Subscriber().start(broker.port, "plant/#")
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            rule = api_rule(
                "plant",
                "time-values-to-mqtt",
                [
                    {"pointId": "setpoint", "topic": "plant/line1/setpoint"},
                    {"pointId": "valve", "topic": "plant/line1/valve", "qos": "2"},
                ],
            )
            body = north_body("broker", "mqtt", {"url": broker.url, "qos": "1"}, every_second, transformers=[rule])
            north = await asyncio.to_thread(engine.ok, "POST", "/api/north", body)
            await asyncio.to_thread(engine.wait_state, "north", north["id"], "RUNNING")
            values = [
                {"pointId": "setpoint", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 12.5}},
                {"pointId": "valve", "timestamp": "2026-01-01T00:00:01.000Z", "data": {"value": "open"}},
                {"pointId": "not mapped", "timestamp": "2026-01-01T00:00:02.000Z", "data": {"value": 7}},
            ]
            await asyncio.to_thread(
                engine.ok, "POST", "/api/content/content?dataSourceId=plant", {"type": "time-values", "content": values}
            )
            await subscriber.wait_for(2)
        finally:
            await subscriber.stop()
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]
    received = sorted((topic, json.loads(payload), qos) for topic, payload, qos, _ in subscriber.received)
    assert received == [
        ("plant/line1/setpoint", {"value": 12.5, "timestamp": "2026-01-01T00:00:00.000Z"}, 1),
        ("plant/line1/valve", {"value": "open", "timestamp": "2026-01-01T00:00:01.000Z"}, 2),
    ]
