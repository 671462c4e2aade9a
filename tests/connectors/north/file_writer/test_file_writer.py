"""File-writer North against a real output folder."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger

from connectors import registry
from connectors.base import ConnectorContext, TimeValue
from connectors.errors import ConnectorFatal, ConnectorNotReady, SendError
from connectors.manifest import secret_fields
from connectors.north.file_writer import MANIFEST, FileWriterNorth
from connectors.north.file_writer.connector import current_date
from connectors.north.file_writer.manifest import FileWriterSettings

README = Path(__file__).resolve().parents[4] / "connectors" / "north" / "file_writer" / "README.md"
DATE = r"\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}_\d{3}"
VALUES: list[TimeValue] = [
    {"pointId": "temperature", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": "21.5"}},
    {
        "pointId": "pressure",
        "timestamp": "2026-01-01T00:00:01.000Z",
        "data": {"value": "1013", "quality": "good"},
    },
]


@pytest.fixture
def output(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def north(
    folder: Path | str, name: str = "Plant Writer", data_folder: Path | None = None, **settings: Any
) -> FileWriterNorth:
    data = data_folder if data_folder is not None else Path(folder).parent
    context = ConnectorContext(id="n1", name=name, logger=RecordingLogger(), base_folder=data / "n1", data_folder=data)
    return FileWriterNorth(msgspec.convert({"outputFolder": str(folder), **settings}, FileWriterSettings), context)


def names(folder: Path) -> list[str]:
    """Sorted entries of ``folder``, hidden temporary files included."""
    return sorted(path.name for path in folder.iterdir())


def source(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / "cache" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


async def test_file_gets_prefix_suffix_and_keeps_its_extension(tmp_path: Path, output: Path) -> None:
    writer = north(output)
    await writer.start()
    await writer.handle_file(source(tmp_path, "entry-1", b"a;b\n1;2\n"), "data.csv")

    [written] = names(output)
    assert re.fullmatch(rf"Plant Writer-data-{DATE}\.csv", written), written
    assert (output / written).read_bytes() == b"a;b\n1;2\n"
    await writer.stop()
    await writer.stop()


async def test_placeholders_anywhere_and_empty_decorations(tmp_path: Path, output: Path) -> None:
    await north(output, prefix="", suffix="").handle_file(source(tmp_path, "e", b"x"), "exact.name.txt")
    await north(output, prefix="@CurrentDate_", suffix="_@ConnectorName").handle_file(
        source(tmp_path, "e", b"y"), "archive.tar.gz"
    )
    assert "exact.name.txt" in names(output)
    [decorated] = [name for name in names(output) if name != "exact.name.txt"]
    assert re.fullmatch(rf"{DATE}_archive\.tar_Plant Writer\.gz", decorated), decorated


async def test_an_existing_file_of_the_same_name_is_replaced(tmp_path: Path, output: Path) -> None:
    writer = north(output, prefix="", suffix="")
    await writer.handle_file(source(tmp_path, "e1", b"old"), "latest.csv")
    await writer.handle_file(source(tmp_path, "e2", b"new"), "latest.csv")
    assert names(output) == ["latest.csv"]
    assert (output / "latest.csv").read_bytes() == b"new"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("2024/03/data.csv", "data.csv"),
        ("../../escape.csv", "escape.csv"),
        ("..\\..\\windows.csv", "windows.csv"),
        ("/etc/passwd", "passwd"),
        ("..", "file"),
    ],
)
async def test_no_file_name_can_leave_the_output_folder(
    tmp_path: Path, output: Path, filename: str, expected: str
) -> None:
    await north(output, prefix="", suffix="").handle_file(source(tmp_path, "e", b"z"), filename)
    assert names(output) == [expected]
    assert names(tmp_path) == ["cache", "out"]


async def test_separators_from_settings_are_flattened(tmp_path: Path, output: Path) -> None:
    await north(output, name="line/1", prefix="../@ConnectorName-", suffix="").handle_file(
        source(tmp_path, "e", b"z"), "a.csv"
    )
    assert names(output) == [".._line_1-a.csv"]


async def test_a_relative_output_folder_is_in_the_data_folder(tmp_path: Path, output: Path) -> None:
    connector = north("out", data_folder=tmp_path)
    assert connector.output_folder == output
    await connector.handle_file(source(tmp_path, "e", b"x"), "a.csv")
    assert len(names(output)) == 1


async def test_values_are_written_as_a_json_array(output: Path) -> None:
    writer = north(output)
    await writer.handle_values(VALUES)
    await writer.handle_values(VALUES[:1])

    written = names(output)
    assert len(written) == 2
    assert all(re.fullmatch(rf"Plant Writer-[0-9a-f]{{12}}-{DATE}\.json", name) for name in written), written
    contents = sorted((json.loads((output / name).read_text()) for name in written), key=len)
    assert contents == [VALUES[:1], VALUES]


async def test_missing_output_folder_is_transient_and_named(tmp_path: Path) -> None:
    missing = tmp_path / "unmounted"
    writer = north(missing)
    await writer.start()  # Starting does not fail: data waits in the cache until the folder is back.
    with pytest.raises(SendError, match=re.escape(str(missing))) as caught:
        await writer.handle_values(VALUES)
    assert caught.value.retry_forever
    with pytest.raises(SendError) as caught:
        await writer.handle_file(source(tmp_path, "e", b"x"), "a.csv")
    assert caught.value.retry_forever

    missing.mkdir()
    await writer.handle_values(VALUES)
    assert len(names(missing)) == 1


async def test_output_folder_that_is_a_file_is_transient(tmp_path: Path) -> None:
    not_a_folder = source(tmp_path, "plain", b"")
    with pytest.raises(SendError) as caught:
        await north(not_a_folder).handle_values(VALUES)
    assert caught.value.retry_forever


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
async def test_unwritable_folder_is_transient(tmp_path: Path, output: Path) -> None:
    os.chmod(output, 0o555)
    try:
        with pytest.raises(SendError, match="cannot write") as caught:
            await north(output).handle_values(VALUES)
        assert caught.value.retry_forever
        with pytest.raises(ConnectorNotReady, match="not writable"):
            await north(output).test_connection()
    finally:
        os.chmod(output, 0o755)


async def test_name_too_long_is_not_retried_forever(tmp_path: Path, output: Path) -> None:
    with pytest.raises(SendError) as caught:
        await north(output, prefix="", suffix="").handle_file(source(tmp_path, "e", b"x"), "n" * 300 + ".csv")
    assert not caught.value.retry_forever
    assert names(output) == []


async def test_unreadable_cache_file_is_not_retried_forever(tmp_path: Path, output: Path) -> None:
    with pytest.raises(SendError, match="cache file") as caught:
        await north(output).handle_file(tmp_path / "gone", "a.csv")
    assert not caught.value.retry_forever
    assert names(output) == []


async def test_test_connection(tmp_path: Path, output: Path) -> None:
    await north(output).test_connection()
    with pytest.raises(ConnectorNotReady, match=re.escape(str(tmp_path / "nope"))):
        await north(tmp_path / "nope").test_connection()
    with pytest.raises(ConnectorFatal, match="is not a folder"):
        await north(source(tmp_path, "plain", b"")).test_connection()


def test_current_date_format() -> None:
    instant = datetime(2026, 1, 31, 23, 59, 59, 123999, tzinfo=UTC)
    assert current_date(instant) == "2026_01_31_23_59_59_123"
    east = datetime(2026, 2, 1, 1, 0, 0, 5000, tzinfo=timezone(timedelta(hours=2)))
    assert current_date(east) == "2026_01_31_23_00_00_005"
    assert re.fullmatch(DATE, current_date())


def test_settings_manifest_and_registry() -> None:
    settings = msgspec.convert({"outputFolder": "./out"}, FileWriterSettings)
    assert (settings.prefix, settings.suffix) == ("@ConnectorName-", "-@CurrentDate")
    assert secret_fields(FileWriterSettings) == {"password"}
    assert MANIFEST.types == ("any", "time-values", "setpoint")
    assert registry.connector_class("north", "file-writer") is FileWriterNorth
    with pytest.raises(msgspec.ValidationError, match="outputFolder"):
        msgspec.convert({}, FileWriterSettings)


def test_readme_table_matches_the_manifest() -> None:
    after = README.read_text().split("\n## Settings\n", 1)[1].lstrip("\n")
    table = after.split("\n\n", 1)[0]
    info = msgspec.inspect.type_info(FileWriterSettings)
    assert isinstance(info, msgspec.inspect.StructType)
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    assert documented == [field.encode_name for field in info.fields]


async def test_cached_json_is_written_byte_for_byte(output: Path) -> None:
    raw = b'[{"pointId":"p","timestamp":"2026-01-01T00:00:00.000Z","data":{"value":1,"quality":"good"}}]'
    await north(output).handle_values_json(raw)
    (written,) = names(output)
    assert (output / written).read_bytes() == raw


async def test_setpoints_are_written_as_their_json_array(output: Path) -> None:
    assert "setpoint" in MANIFEST.types
    raw = b'[{"reference":"valve-1","value":12.5},{"reference":"mode","value":"auto"}]'
    await north(output).handle_content("setpoint", raw)
    (written,) = names(output)
    assert re.fullmatch(rf"Plant Writer-[0-9a-f]{{12}}-{DATE}\.json", written), written
    assert (output / written).read_bytes() == raw
    with pytest.raises(SendError, match="'mqtt'"):
        await north(output).handle_content("mqtt", b"[]")


async def test_a_batch_of_files_is_written_completely(tmp_path: Path, output: Path) -> None:
    files = [(source(tmp_path, f"c{index}", f"data {index}".encode()), f"f{index}.csv") for index in range(20)]
    await north(output, prefix="", suffix="").handle_files(files)
    assert names(output) == sorted(f"f{index}.csv" for index in range(20))
    for index in range(20):
        assert (output / f"f{index}.csv").read_bytes() == f"data {index}".encode()


async def test_a_failed_batch_leaves_no_temporary_file(tmp_path: Path, output: Path) -> None:
    files = [(source(tmp_path, "c0", b"ok"), "a.csv"), (tmp_path / "cache" / "vanished", "b.csv")]
    with pytest.raises(SendError, match="cannot be read"):
        await north(output, prefix="", suffix="").handle_files(files)
    # The file before the failing one is delivered whole (sent again at the retry); nothing half-made is left.
    assert names(output) == ["a.csv"]
    assert (output / "a.csv").read_bytes() == b"ok"
    source(tmp_path, "vanished", b"back")
    await north(output, prefix="", suffix="").handle_files(files)
    assert names(output) == ["a.csv", "b.csv"]
    assert (output / "b.csv").read_bytes() == b"back"


async def test_a_batch_hard_links_the_cache_content_instead_of_copying(tmp_path: Path, output: Path) -> None:
    cached = source(tmp_path, "c0", b"payload")
    await north(output, prefix="", suffix="").handle_files([(cached, "a.csv")])
    assert (output / "a.csv").read_bytes() == b"payload"
    assert (output / "a.csv").stat().st_ino == cached.stat().st_ino, "same inode: no data written twice"
    cached.unlink()  # the cache deletes its copy after the send
    assert (output / "a.csv").read_bytes() == b"payload"
