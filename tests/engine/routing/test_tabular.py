"""The CSV/JSON/OIAnalytics standard transformers on golden input and output, and their option checks."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import pytest

from engine.routing.jsonpath import compile_path
from engine.routing.transformers import STANDARD, TransformError, transform_content

VALUES = [
    {"pointId": "temperature", "timestamp": "2026-01-01T10:20:30.456Z", "data": {"value": 21.5, "quality": "good"}},
    {"pointId": "pressure", "timestamp": "2026-01-01T10:20:31.000Z", "data": {"value": 3}},
]


def run(transformer_id: str, options: dict[str, Any], content_type: str, payload: bytes) -> Any:
    result = transform_content(transformer_id, options, content_type, payload)
    assert result is not None
    assert result.content_type == STANDARD[transformer_id].output_type
    return result


def test_time_values_to_csv_with_upstream_defaults() -> None:
    result = run("time-values-to-csv", {}, "time-values", json.dumps(VALUES).encode())
    assert result.payload.decode() == (
        "Reference,Timestamp,Value\ntemperature,2026-01-01T10:20:30.456Z,21.5\npressure,2026-01-01T10:20:31.000Z,3"
    )
    assert result.count == 2
    assert re.fullmatch(r"\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d_\d{3}\.csv", result.filename)


def test_time_values_to_csv_formats_quotes_and_encodes() -> None:
    options = {
        "filename": "values.csv",
        "encoding": "UTF_8_BOM",
        "header": False,
        "delimiter": "SEMI_COLON",
        "newline": "CRLF",
        "quoteChar": "DOUBLE_QUOTE",
        "timestampType": "string",
        "timestampFormat": "dd/MM/yyyy HH:mm:ss.SSS",
        "timezone": "Europe/Paris",
    }
    result = run("time-values-to-csv", options, "time-values", json.dumps(VALUES).encode())
    assert result.payload == (
        b'\xef\xbb\xbf"temperature";"01/01/2026 11:20:30.456";"21.5"\r\n"pressure";"01/01/2026 11:20:31.000";"3"'
    )
    assert result.filename == "values.csv"
    epoch = run("time-values-to-csv", {"timestampType": "unix-epoch-ms", "header": False}, "time-values", b"[]")
    assert epoch.payload == b""


def test_time_values_to_json_keeps_the_values_in_a_json_file() -> None:
    result = run("time-values-to-json", {}, "time-values", json.dumps(VALUES).encode())
    assert json.loads(result.payload) == VALUES
    assert (result.count, len(result.filename)) == (2, len("0123456789.json"))


@pytest.mark.parametrize(
    ("precision", "first"),
    [
        ("ms", "2026-01-01T10:20:30.456Z"),
        ("s", "2026-01-01T10:20:30.000Z"),
        ("min", "2026-01-01T10:20:00.000Z"),
        ("hr", "2026-01-01T10:00:00.000Z"),
    ],
)
def test_time_values_to_oianalytics_keeps_point_timestamp_value(precision: str, first: str) -> None:
    result = run("time-values-to-oianalytics", {"precision": precision}, "time-values", json.dumps(VALUES).encode())
    assert json.loads(result.payload)[0] == {"pointId": "temperature", "timestamp": first, "data": {"value": 21.5}}


DOCUMENT = {
    "site": "lyon",
    "measures": [
        {"name": "t1", "val": 12.5, "at": 1767262830456, "ok": "true", "tags": ["a"]},
        {"name": "t2", "val": "7", "at": 1767262831000, "ok": "false", "tags": []},
        {"name": "t3"},
    ],
}


def test_json_to_csv_one_row_per_iterated_element() -> None:
    options = {
        "filename": "out-@CurrentDate.csv",
        "delimiter": "COMMA",
        "rowIteratorPath": "$.measures[*]",
        "fields": [
            {"columnName": "Name", "jsonPath": "$.name"},
            {"columnName": "Value", "jsonPath": "$['val']", "dataType": "number"},
            {
                "columnName": "When",
                "jsonPath": "$.at",
                "dataType": "datetime",
                "datetimeSettings": {"inputType": "unix-epoch-ms", "outputType": "string", "outputFormat": "HH:mm:ss"},
            },
            {"columnName": "Ok", "jsonPath": "$.ok", "dataType": "boolean"},
            {"columnName": "Tags", "jsonPath": "$.tags", "dataType": "array"},
        ],
    }
    result = run("json-to-csv", options, "any-content", json.dumps(DOCUMENT).encode())
    assert result.payload.decode() == (
        'Name,Value,When,Ok,Tags\nt1,12.5,10:20:30,true,"[""a""]"\nt2,7,10:20:31,false,[]\nt3,,,,'
    )
    assert result.filename.startswith("out-") and result.count == 3


def test_json_to_oianalytics_skips_incomplete_rows() -> None:
    options = {
        "rowIteratorPath": "$..measures[*]",
        "pointId": "$.name",
        "value": "$.val",
        "timestamp": "$.at",
        "datetimeSettings": {"inputType": "unix-epoch-ms", "outputPrecision": "s"},
    }
    result = run("json-to-oianalytics", options, "any", json.dumps(DOCUMENT).encode())
    assert json.loads(result.payload) == [
        {"pointId": "t1", "timestamp": "2026-01-01T10:20:30.000Z", "data": {"value": 12.5}},
        {"pointId": "t2", "timestamp": "2026-01-01T10:20:31.000Z", "data": {"value": "7"}},
    ]


CSV = b"id;timestamp;value;unit\nt1;2026-01-01 11:20:30;21.5;C\nt2;2026-01-01 11:20:31;on;-\n;2026-01-01 11:00:00;1;x\n"


def test_csv_to_time_values_reads_named_columns_and_local_time() -> None:
    options = {"timestampSettings": {"type": "string", "timezone": "Europe/Paris", "format": "yyyy-MM-dd HH:mm:ss"}}
    result = run("csv-to-time-values", options, "any", CSV)
    assert json.loads(result.payload) == [
        {"pointId": "t1", "timestamp": "2026-01-01T10:20:30.000Z", "data": {"value": 21.5}},
        {"pointId": "t2", "timestamp": "2026-01-01T10:20:31.000Z", "data": {"value": "on"}},
    ]


def test_csv_to_time_values_without_header_uses_column_indexes() -> None:
    options = {
        "delimiter": "COMMA",
        "hasHeader": False,
        "pointIdColumn": "0",
        "timestampColumn": "2",
        "valueColumn": "1",
        "timestampSettings": {"type": "unix-epoch"},
    }
    result = run("csv-to-time-values", options, "any-content", b"a,4,1767262830\n")
    assert json.loads(result.payload) == [
        {"pointId": "a", "timestamp": "2026-01-01T10:20:30.000Z", "data": {"value": 4}}
    ]


def test_csv_to_mqtt_value_and_object_payloads() -> None:
    text = b"topic,value,unit\nplant/t,21.5,C\n,1,x\n"
    value = run(
        "csv-to-mqtt",
        {"delimiter": "COMMA", "payloadType": "number", "valueColumn": "value"},
        "any",
        text,
    )
    assert json.loads(value.payload) == [{"topic": "plant/t", "payload": "21.5"}]
    obj = run(
        "csv-to-mqtt",
        {
            "delimiter": "COMMA",
            "objectFields": [
                {"key": "v", "column": "value", "dataType": "number"},
                {"key": "u", "column": "unit"},
            ],
        },
        "any",
        text,
    )
    assert json.loads(obj.payload) == [{"topic": "plant/t", "payload": '{"v":21.5,"u":"C"}'}]


@pytest.mark.parametrize(
    ("transformer_id", "options", "message"),
    [
        ("time-values-to-csv", {"delimiter": "SPACE"}, "delimiter"),
        ("time-values-to-csv", {"filename": ""}, "filename"),
        ("time-values-to-oianalytics", {"precision": "day"}, "precision"),
        ("json-to-csv", {"rowIteratorPath": "$[?(@.x)]"}, "rowIteratorPath"),
        ("json-to-csv", {"fields": [{"columnName": "a", "jsonPath": "name"}]}, "fields[0].jsonPath"),
        ("json-to-oianalytics", {"value": "$.v", "timestamp": "$.t"}, "pointId"),
        ("csv-to-time-values", {"timestampSettings": {"type": "excel"}}, "timestampSettings.type"),
        ("csv-to-mqtt", {"payloadType": "xml"}, "payloadType"),
    ],
)
def test_bad_options_name_the_field(transformer_id: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(message)):
        msgspec.convert(options, STANDARD[transformer_id].options)


def test_any_transformers_refuse_time_values_and_unreadable_content() -> None:
    with pytest.raises(TransformError, match="reads any"):
        transform_content("csv-to-mqtt", {}, "time-values", b"[]")
    with pytest.raises(TransformError, match="cannot read"):
        transform_content("json-to-oianalytics", {"pointId": "$.a", "value": "$.b", "timestamp": "$.c"}, "any", b"{")


def test_jsonpath_subset() -> None:
    document = {"a": {"b": [{"c": 1}, {"c": 2}], "d": {"c": 3}}}
    assert compile_path("$.a.b[*].c").find(document) == [1, 2]
    assert compile_path("$..c").find(document) == [1, 2, 3]
    assert compile_path("$['a']['b'][-1]").find(document) == [{"c": 2}]
    assert compile_path("$").find(document) == [document]
    with pytest.raises(ValueError, match="must start"):
        compile_path("a.b")
