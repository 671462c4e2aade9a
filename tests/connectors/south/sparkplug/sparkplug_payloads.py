"""Hand-built Sparkplug B payloads for the edge cases a real edge node rarely shows."""

from __future__ import annotations

from typing import Any

from connectors.common.sparkplug import DataType, new_payload, set_metric_value

Metric = tuple[str | None, int | None, int, Any]
"""(name, alias, data type, value); ``None`` name: alias only, ``None`` alias: name only."""


def payload(seq: int | None, *metrics: Metric, timestamp: int = 1_767_225_600_000, bd_seq: int | None = None) -> bytes:
    built = new_payload(timestamp, seq)
    if bd_seq is not None:
        built.metrics.add(name="bdSeq", datatype=DataType.UINT64, long_value=bd_seq)
    for name, alias, datatype, value in metrics:
        metric = built.metrics.add(datatype=datatype)
        if name is not None:
            metric.name = name
        if alias is not None:
            metric.alias = alias
        if datatype == 0:  # no data type declared (DATA by name): a double
            metric.double_value = value
        elif datatype in (DataType.BOOLEAN, DataType.INT64, DataType.DOUBLE, DataType.STRING) or value is None:
            set_metric_value(metric, datatype, value)
        elif datatype == DataType.INT32:
            metric.int_value = value & 0xFFFF_FFFF
        elif datatype == DataType.FLOAT:
            metric.float_value = value
        elif datatype == DataType.BYTES:
            metric.bytes_value = value
    data: bytes = built.SerializeToString()
    return data
