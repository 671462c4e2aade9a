"""Input templates per input type (``GET /api/transformers/template/{inputType}``): a sample and a skeleton."""

from __future__ import annotations

import json
from typing import Any

_SKELETON = """/**
 * transform(content, source, filename, options)
 *   content:  the input as text (%s)
 *   source:   where it comes from ({source: 'south', southId, ...}, {source: 'oibus-api', dataSourceId}, ...)
 *   filename: the input's file name
 *   options:  the North rule's options
 * Return {data, filename?, numberOfElement?}; data is text, or any JSON value (written as JSON).
 * require() offers 'papaparse', 'luxon' and 'jsonpath-plus'; console.* goes to the OIBus logs.
 */
function transform(content, source, filename, options) {
%s
}
"""

_SAMPLES: dict[str, tuple[str, str, str]] = {
    "any": (
        "a file or an any-content payload",
        "reference;timestamp;value\nTEMP-01;2026-01-01T00:00:00.000Z;21.5\n",
        "  const rows = content.split('\\n').filter((line) => line.trim());\n"
        "  return { data: content, filename, numberOfElement: rows.length };",
    ),
    "time-values": (
        "a JSON array of {pointId, timestamp, data: {value}}",
        json.dumps([{"pointId": "TEMP-01", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 21.5}}]),
        "  const values = JSON.parse(content);\n  return { data: values, numberOfElement: values.length };",
    ),
    "setpoint": (
        "a JSON array of {reference, value}",
        json.dumps([{"reference": "SPEED", "value": 1200}]),
        "  const setpoints = JSON.parse(content);\n  return { data: setpoints, numberOfElement: setpoints.length };",
    ),
}

TEMPLATES: dict[str, dict[str, Any]] = {
    input_type: {"type": input_type, "data": sample, "code": _SKELETON % (description, body)}
    for input_type, (description, sample, body) in _SAMPLES.items()
}
"""``{type, data, code}`` per input type."""
