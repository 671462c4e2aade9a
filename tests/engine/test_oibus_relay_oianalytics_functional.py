"""Issue 5, acceptance 4: an OT OIBus registers with OIAnalytics through the built-in proxy of an IT OIBus."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

from engine_process import EngineProcess, wait_for

sys.path.insert(0, str(Path(__file__).parent / "oianalytics"))

from oia_support import FAST_CHECK, registration_body, wait_until
from servers.oianalytics import FakeOIAnalytics

PROXY_USER = "ot-oibus"
PROXY_PASSWORD = "it-proxy-pw-41d7"
PROXY_STARTED = re.compile(r"proxy_started port=(\d+)")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ot_registers_through_the_it_proxy_and_only_with_its_credentials(tmp_path: Path) -> None:
    fake = FakeOIAnalytics(tls_folder=tmp_path)
    with fake:
        it = EngineProcess(tmp_path / "it").start()
        ot = EngineProcess(tmp_path / "ot", env=FAST_CHECK).start()
        try:
            # Port 0: the system assigns the proxy's port, which IT logs when it starts listening.
            proxy = {"enabled": True, "port": 0, "username": PROXY_USER, "password": PROXY_PASSWORD}
            assert it.request("PUT", "/api/engine/proxy", proxy)[0] in (200, 204)
            wait_for(lambda: PROXY_STARTED.search(it.log()) is not None, 10, "IT proxy listening")
            started = PROXY_STARTED.search(it.log())
            assert started is not None
            port = int(started.group(1))
            assert listening(port)
            via_it = {"useProxy": True, "proxyUrl": f"http://127.0.0.1:{port}", "proxyUsername": PROXY_USER}

            # Wrong proxy credentials: IT's proxy refuses the tunnel, so nothing reaches OIAnalytics.
            wrong = registration_body(fake, **via_it, proxyPassword="not-the-password")
            status, _ = ot.request("POST", "/api/oianalytics/register", wrong)
            assert status >= 400
            assert fake.registrations == []
            assert ot.ok("GET", "/api/oianalytics/registration")["status"] == "NOT_REGISTERED"

            # The right ones: registration through IT, then the activation completes through it too.
            body = registration_body(fake, **via_it, proxyPassword=PROXY_PASSWORD)
            assert ot.request("POST", "/api/oianalytics/register", body)[0] == 204
            assert ot.ok("GET", "/api/oianalytics/registration")["activationCode"] == fake.activation_code
            fake.accepted = True
            wait_until(
                lambda: ot.ok("GET", "/api/oianalytics/registration")["status"] == "REGISTERED", what="REGISTERED"
            )
            wait_until(lambda: fake.configurations, what="full-config through the proxy")
            assert fake.problems == []
            for secret in (PROXY_PASSWORD, fake.token):
                assert secret not in "".join(fake.everything_received())
                assert secret not in str(ot.ok("GET", "/api/oianalytics/registration"))
        finally:
            ot.stop()
            it.stop()
