"""Custom transformers on the routing path of a real engine: run in its sandbox, limits, error cache, order.

One folder-scanner South feeds several file-writer Norths. A North whose rule names a custom transformer
stores what the JavaScript made of each file; a runaway transformer (endless loop, unbounded allocation) is
stopped at its limit, its input kept in that North's error cache with the error logged under the North,
while the other Norths on the same South receive every file and the engine keeps running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from engine_process import EngineProcess, folder_scanner_body, north_body, running_engine, scan_mode_id, wait_for

FILES = 4
UPPER = "function transform(content, source, filename) { return { data: content.toUpperCase(), filename }; }"
LOOP = "function transform(content) { while (true) {} }"
HOG = "function transform(content) { const keep = []; while (true) { keep.push(new Array(1e6).fill(content)); } }"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    with running_engine(tmp_path / "data") as process:
        yield process


def custom(engine: EngineProcess, name: str, code: str, timeout_ms: int) -> str:
    body = {
        "type": "custom",
        "name": name,
        "description": "",
        "inputType": "any",
        "outputType": "any",
        "customCode": code,
        "customManifest": {},
        "language": "javascript",
        "timeout": timeout_ms,
    }
    return str(engine.ok("POST", "/api/transformers", body)["id"])


def south_rule(south_id: str, transformer_id: str) -> dict[str, Any]:
    return {"source": {"type": "south", "southId": south_id}, "transformerId": transformer_id, "options": {}}


def writer(engine: EngineProcess, name: str, folder: Path, mode: str, rules: list[dict[str, Any]]) -> str:
    folder.mkdir()
    body = north_body(name, "file-writer", {"outputFolder": str(folder), "prefix": "", "suffix": ""}, mode)
    created = engine.ok("POST", "/api/north", {**body, "transformers": rules})
    engine.wait_state("north", created["id"], "RUNNING")
    return str(created["id"])


def error_entries(engine: EngineProcess, north_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = engine.ok("GET", f"/api/north/{north_id}/cache/search")["error"]
    return found


def error_contents(data_dir: Path, north_id: str) -> list[Path]:
    """The content files of a North's error cache, on disk."""
    return [
        path
        for path in data_dir.rglob("*")
        if path.is_file() and path.parent.name == "content" and "error" in path.parts and north_id in str(path)
    ]


def logged(engine: EngineProcess, north_id: str, text: str) -> bool:
    page = engine.ok("GET", f"/api/logs?scopeTypes=north&scopeIds={north_id}")
    return any(text in entry["message"] for entry in page["content"])


def test_runaway_transformers_stop_at_their_limits_and_the_other_norths_get_every_file(
    engine: EngineProcess, tmp_path: Path
) -> None:
    mode = scan_mode_id(engine, "Every second")
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, mode))
    engine.wait_state("south", south["id"], "RUNNING")
    upper = custom(engine, "upper", UPPER, 2000)
    loop = custom(engine, "loop", LOOP, 300)
    hog = custom(engine, "hog", HOG, 60_000)
    plain = writer(engine, "plain", tmp_path / "plain", mode, [])
    shouting = writer(engine, "shouting", tmp_path / "shouting", mode, [south_rule(south["id"], upper)])
    looping = writer(engine, "looping", tmp_path / "looping", mode, [south_rule(south["id"], loop)])
    hogging = writer(engine, "hogging", tmp_path / "hogging", mode, [south_rule(south["id"], hog)])

    sent = {f"m{index}.txt": f"value {index}\n".encode() for index in range(FILES)}
    for name, data in sent.items():
        (input_dir / name).write_bytes(data)

    def delivered(folder: str) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in (tmp_path / folder).iterdir()}

    wait_for(lambda: len(delivered("plain")) == FILES, 120, f"plain North: {engine.log()[-3000:]}")
    assert delivered("plain") == sent
    wait_for(lambda: len(delivered("shouting")) == FILES, 60, "transformed files")
    assert delivered("shouting") == {name: data.upper() for name, data in sent.items()}
    # Nothing left at the source: every file was stored by every North (the runaways' in their error cache).
    wait_for(lambda: not any(input_dir.iterdir()), 60, "the South acknowledged every file")
    for north_id in (looping, hogging):
        entries = error_entries(engine, north_id)
        assert sorted(entry["contentFile"] for entry in entries) == sorted(sent)
        kept = sorted(path.read_bytes() for path in error_contents(tmp_path / "data", north_id))
        assert kept == sorted(sent.values())
    assert not any((tmp_path / "looping").iterdir())
    assert not any((tmp_path / "hogging").iterdir())
    wait_for(lambda: logged(engine, looping, "TIMEOUT_ERROR"), 10, "the loop's error under its North")
    wait_for(lambda: logged(engine, hogging, "MEMORY_LIMIT_EXCEEDED"), 10, "the hog's error under its North")
    assert not logged(engine, plain, "transformer failed")

    # The engine and every connector still run.
    assert engine.proc is not None and psutil.Process(engine.proc.pid).is_running()
    for north_id in (plain, shouting, looping, hogging):
        assert engine.ok("GET", f"/api/north/{north_id}")["enabled"]
        engine.wait_state("north", north_id, "RUNNING")


def test_upstreams_mqtt_example_converts_api_content_for_a_north(engine: EngineProcess, tmp_path: Path) -> None:
    """Upstream's guide example 5, unchanged, on the API path: any-content in, the documented time-values out."""
    examples = Path(__file__).parent / "sandbox" / "examples" / "upstream"
    code = (examples / "mqtt-messages-to-time-values.js").read_text(encoding="utf-8")
    body = {
        "type": "custom",
        "name": "mqtt-normalise",
        "description": "",
        "inputType": "any",
        "outputType": "time-values",
        "customCode": code,
        "customManifest": {},
        "language": "javascript",
        "timeout": 2000,
    }
    transformer = engine.ok("POST", "/api/transformers", body)["id"]
    rule = {"source": {"type": "oibus-api", "dataSourceId": "mqtt"}, "transformerId": transformer, "options": {}}
    out = tmp_path / "values"
    writer(engine, "values", out, scan_mode_id(engine, "Every second"), [rule])
    messages = json.loads((examples / "mqtt-messages.input.json").read_text())
    status, _ = engine.request("POST", "/api/content/content?dataSourceId=mqtt", messages)
    assert status in (200, 204)  # stored by the North only once transformed
    wait_for(lambda: any(out.iterdir()), 30, "the transformed values written")
    (written,) = list(out.iterdir())
    assert json.loads(written.read_text()) == json.loads((examples / "mqtt-messages.output.json").read_text())
