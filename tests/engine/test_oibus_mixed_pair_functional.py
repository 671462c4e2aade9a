"""A mixed pair: our OT engine's ``oibus`` North feeds a receiver that answers as upstream OIBus 3.8+ does.

Upstream's content API stores only in the Norths its ``northId`` names (and requires it); our North sends its
``northIds`` setting there. Every value and file must reach each named North, nothing lost across a restart
of the receiver (on the same port) while OT keeps producing.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import engine_process as ep
import pytest
from engine_process import AUTH, EngineProcess, running_engine, wait_for
from servers.upstream_oibus import UpstreamReceiver

IT_NORTHS = ("it-archive", "it-oianalytics")


@pytest.fixture
def receiver() -> Iterator[UpstreamReceiver]:
    with UpstreamReceiver(norths={*IT_NORTHS, "it-unnamed"}) as upstream:
        yield upstream


def numbers(upstream: UpstreamReceiver, north_id: str) -> list[int]:
    """The values one North of the receiver cached (any-content holding our 3.8+ envelope)."""
    found: list[int] = []
    for cached in upstream.received(north_id):
        if cached.type == "any-content":
            body = json.loads(cached.content)
            assert body["type"] == "time-values"
            found.extend(int(value["data"]["value"]) for value in body["content"])
    return found


def files(upstream: UpstreamReceiver, north_id: str) -> dict[str, bytes]:
    return {cached.filename: cached.file_data for cached in upstream.received(north_id) if cached.type == "any"}


def cache(engine: EngineProcess, north_id: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = engine.ok("GET", f"/api/north/{north_id}/cache/search")
    return found


def send_failures(engine: EngineProcess, north_id: str) -> int:
    page = engine.ok("GET", f"/api/logs?scopeIds={north_id}&messageContent=cache%20entry%20send%20failed")
    return len(page["content"])


def test_our_north_with_target_ids_feeds_an_upstream_receiver_through_its_restart(
    receiver: UpstreamReceiver, tmp_path: Path
) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    with running_engine(tmp_path / "ot") as ot:
        every_second = ep.scan_mode_id(ot, "Every second")
        settings = {
            "host": receiver.url,
            "username": receiver.username,
            "password": receiver.password,
            "northIds": list(IT_NORTHS),
            "timeout": 10,
        }
        to_it = ot.ok(
            "POST",
            "/api/north",
            ep.north_body(
                "ToIT", "oibus", settings, every_second, error={"retryInterval": 200}, transformers=[ep.api_rule("plc")]
            ),
        )
        ot.wait_state("north", to_it["id"], "RUNNING")
        # The connection test asks the receiver's info with the credentials.
        assert ot.request("POST", f"/api/north/{to_it['id']}/test/connection")[0] == 204
        ot.ok("POST", "/api/south", ep.folder_scanner_body(inbox, every_second))

        (inbox / "report-1.csv").write_text("a;b\n1;2\n")
        assert ep.post_values(ot, ep.batch(0, 100), "plc") == 204
        wait_for(
            lambda: all(len(numbers(receiver, n)) >= 100 and files(receiver, n) for n in IT_NORTHS),
            30,
            f"first data reaches both named Norths: {receiver.requests[-3:]}",
        )

        # The receiver restarts; OT keeps producing and keeps everything meanwhile.
        failures = send_failures(ot, to_it["id"])
        receiver.go_down()
        for index in range(1, 6):
            assert ep.post_values(ot, ep.batch(index * 100, 100), "plc") == 204
        for index in (2, 3):
            (inbox / f"report-{index}.csv").write_text(f"a;b\n{index};{index}\n")
        wait_for(lambda: not any(inbox.iterdir()), 30, "OT's folder scanner took the files")
        wait_for(lambda: send_failures(ot, to_it["id"]) > failures, 30, "OT tries while the receiver is down")
        assert cache(ot, to_it["id"])["cache"], "OT keeps its data while the receiver is down"
        receiver.go_up()

        expected_files = {f"report-{n}.csv": f"a;b\n{n};{n}\n".encode() for n in (2, 3)}
        expected_files["report-1.csv"] = b"a;b\n1;2\n"
        wait_for(
            lambda: all(set(numbers(receiver, n)) == set(range(600)) for n in IT_NORTHS), 60, "every value, both Norths"
        )
        wait_for(lambda: all(files(receiver, n) == expected_files for n in IT_NORTHS), 30, "every file, both Norths")
        for north_id in IT_NORTHS:
            # At least once: a batch in flight when the receiver went down may come twice, nothing more.
            assert max(Counter(numbers(receiver, north_id)).values()) <= 2
        wait_for(lambda: not cache(ot, to_it["id"])["cache"], 30, "OT's cache drains")
        assert cache(ot, to_it["id"])["error"] == []

    # Only the named Norths got anything, and every request named them all and the sender.
    assert receiver.received("it-unnamed") == []
    posts = [(path, query) for path, query, status in receiver.requests if path.startswith("/api/content/")]
    assert posts and all(query == {"northId": ",".join(IT_NORTHS), "dataSourceId": "ToIT"} for _, query in posts)
    assert {status for path, _, status in receiver.requests if path.startswith("/api/content/")} <= {204}


def test_the_receiver_refuses_a_sender_without_north_ids(receiver: UpstreamReceiver) -> None:
    # The fake must hold what it stands for: upstream requires northId, and stores nothing without it.
    credentials = base64.b64encode(f"{receiver.username}:{receiver.password}".encode()).decode()
    request = urllib.request.Request(
        f"{receiver.url}/api/content/content?dataSourceId=ToIT",
        data=json.dumps(ep.batch(0, 1)).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {credentials}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert all(not receiver.received(north_id) for north_id in receiver.norths)


def upstream_post(engine: EngineProcess, path: str, **body: Any) -> tuple[int, Any]:
    """POST as an upstream 3.8+ sender does (a ``rest`` North): ``file=(name, bytes)`` as multipart, else JSON."""
    if "file" in body:
        name, data = body["file"]
        boundary = "upstream-sender-boundary"
        payload = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        content_type = f"multipart/form-data; boundary={boundary}"
    else:
        payload, content_type = json.dumps(body["json"]).encode(), "application/json"
    request = urllib.request.Request(
        f"{engine.url}{path}", data=payload, method="POST", headers={"Content-Type": content_type}
    )
    request.add_header("Authorization", AUTH)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), None
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read() or b"null")


def file_writer(engine: EngineProcess, name: str, out: Path, transformers: list[Any]) -> str:
    settings = {"outputFolder": str(out), "prefix": "", "suffix": ""}
    every_second = ep.scan_mode_id(engine, "Every second")
    north = engine.ok(
        "POST", "/api/north", ep.north_body(name, "file-writer", settings, every_second, transformers=transformers)
    )
    engine.wait_state("north", north["id"], "RUNNING")
    return str(north["id"])


def written_values(folder: Path) -> list[int]:
    return sorted(
        int(value["data"]["value"]) for path in folder.glob("*.json") for value in json.loads(path.read_bytes())
    )


def test_an_upstream_sender_with_north_ids_reaches_exactly_those_norths(tmp_path: Path) -> None:
    named_out, ruled_out = tmp_path / "named", tmp_path / "ruled"
    named_out.mkdir()
    ruled_out.mkdir()
    with running_engine(tmp_path / "it") as it:
        # ``named`` has no rule for the sender; ``ruled`` has one. northId overrides the rules, as upstream.
        named = file_writer(it, "named", named_out, [])
        file_writer(it, "ruled", ruled_out, [ep.api_rule("plc")])

        assert (
            upstream_post(it, f"/api/content/file?northId={named}&dataSourceId=plc", file=("a.csv", b"x\n"))[0] == 204
        )
        values = {"type": "time-values", "content": ep.batch(0, 3)["content"]}
        # An id naming no North is skipped, as upstream does; the named one stores.
        path = f"/api/content/content?northId=no-such-north,{named}&dataSourceId=plc"
        assert upstream_post(it, path, json=values)[0] == 204
        wait_for(lambda: (named_out / "a.csv").exists() and written_values(named_out) == [0, 1, 2], 30, "named")
        assert not any(ruled_out.iterdir()), "the rule for 'plc' does not apply when northId names the targets"

        # Only unknown ids: nothing stored anywhere. Upstream answers 204 and drops it; we answer 404 so that
        # the sender keeps the data (its retryable statuses include 404).
        status, answer = upstream_post(it, "/api/content/content?northId=ghost&dataSourceId=plc", json=values)
        assert status == 404 and "ghost" in answer["message"], answer

        # Without northId, the rules route: ``ruled`` takes 'plc', ``named`` nothing more.
        more = {"type": "time-values", "content": ep.batch(10, 2)["content"]}
        assert upstream_post(it, "/api/content/content?dataSourceId=plc", json=more)[0] == 204
        wait_for(lambda: written_values(ruled_out) == [10, 11], 30, "rule-based routing")
        assert written_values(named_out) == [0, 1, 2]
