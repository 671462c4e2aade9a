"""A bounded schemathesis run against the OpenAPI document a real engine serves.

Every operation is fuzzed from its own schema, with a fixed seed and a few examples each, over a real
socket. The run fails on any 5xx, any status the document does not list, and any answer whose body or
content type is off its schema. ``OIBUS_SCHEMATHESIS_EXAMPLES`` raises the number of examples per operation.

Left out, because they move or stop the engine under the fuzzer's feet: restart and reset, the port and
web-server settings (``PUT /api/engine``, ``PUT /api/engine/web-server``), password changes. One worker:
schemathesis 4.32 builds examples of the per-type settings schemas with an internal error when two threads
compile them at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine_process import EngineProcess

EXAMPLES = os.environ.get("OIBUS_SCHEMATHESIS_EXAMPLES", "4")
EXCLUDED = r"/restart|/reset|^/api/engine$|/web-server|/password"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_the_served_document_survives_a_bounded_schemathesis_run(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path / "data", log_level="warn").start()
    try:
        schemathesis = Path(sys.executable).with_name("schemathesis")
        command = [
            str(schemathesis),
            "run",
            f"{engine.url}/api/openapi.json",
            "--auth=admin:pass",
            f"--max-examples={EXAMPLES}",
            "--seed=1",
            f"--checks={CHECKS}",
            f"--exclude-path-regex={EXCLUDED}",
            "--phases=examples,fuzzing",
            "--workers=1",
            "--no-color",
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
        assert "api_request_failed" not in engine.log(), engine.log()[-5000:]
    finally:
        engine.stop()
