"""Registration with OIAnalytics against the fake, from the REST API of a real engine process."""

from __future__ import annotations

from pathlib import Path

from engine_process import EngineProcess
from oia_support import FAST_CHECK, registration_body, wait_until
from servers.connect_proxy import ConnectProxy
from servers.oianalytics import FakeOIAnalytics

GATEWAY = ("X-Gateway-Key", "gw-secret-5c1d")
PROXY_CREDENTIALS = ("proxy-user", "proxy-pw-8e2a")


def test_registration_over_https_through_proxy_and_gateway(tmp_path: Path) -> None:
    """Acceptance 1: HTTPS, a CONNECT proxy with credentials, a gateway prefix and header; code shown = code sent."""
    fake = FakeOIAnalytics(prefix="/oianalytics", gateway_header=GATEWAY, tls_folder=tmp_path)
    with fake, ConnectProxy(credentials=PROXY_CREDENTIALS) as proxy:
        engine = EngineProcess(tmp_path / "data", env=FAST_CHECK).start()
        try:
            body = registration_body(
                fake,
                useProxy=True,
                proxyUrl=proxy.url,
                proxyUsername=PROXY_CREDENTIALS[0],
                proxyPassword=PROXY_CREDENTIALS[1],
            )
            assert engine.request("POST", "/api/oianalytics/register", body)[0] == 204
            shown = engine.ok("GET", "/api/oianalytics/registration")
            assert shown["status"] == "PENDING"
            assert shown["activationCode"] == fake.activation_code
            assert len(shown["activationCode"]) == 6
            # Every exchange went through the proxy, to the fake, and nowhere else.
            assert proxy.tunnels and set(proxy.tunnels) == {f"127.0.0.1:{fake.port}"}
            assert proxy.refused == []

            fake.accepted = True
            registered = wait_until(
                lambda: (r := engine.ok("GET", "/api/oianalytics/registration"))["status"] == "REGISTERED" and r,
                what="REGISTERED",
            )
            assert registered["activationCode"] is None
            assert registered["activationDate"]
            # Once registered, the full configuration arrives with the public key OIAnalytics encrypts with.
            config = wait_until(lambda: fake.configurations, what="full-config")[-1]
            assert config["registration"]["publicKey"] == fake.registrations[-1]["publicKey"]
            assert config["registration"]["settings"]["commandRefreshInterval"] == 1
            wait_until(lambda: fake.history_messages, what="history-queries message")
            wait_until(lambda: ("GET", "/oianalytics/api/oianalytics/oibus/commands/pending") in fake.requests)
            assert fake.problems == []
            # Secrets stay home: no token, key, proxy password or gateway value in the API or the messages.
            shown_text = str(engine.ok("GET", "/api/oianalytics/registration"))
            sent_text = "".join(fake.everything_received())
            for secret in (fake.token, PROXY_CREDENTIALS[1], GATEWAY[1], "PRIVATE KEY"):
                assert secret not in shown_text
                assert secret not in sent_text
        finally:
            engine.stop()


def test_registration_refused_and_unreachable_leave_it_unregistered(tmp_path: Path) -> None:
    fake = FakeOIAnalytics(gateway_header=GATEWAY)
    with fake:
        engine = EngineProcess(tmp_path / "data", env=FAST_CHECK).start()
        try:
            # A wrong gateway header: the fake refuses (400), the API says so and nothing is stored.
            bad = registration_body(fake, apiGatewayHeaderValue="wrong")
            status, answer = engine.request("POST", "/api/oianalytics/register", bad)
            assert status == 400 and "OIAnalytics refused the registration" in answer["message"]
            assert engine.ok("GET", "/api/oianalytics/registration")["status"] == "NOT_REGISTERED"
            fake.problems.clear()
            # Bad settings are refused before any request, naming the field.
            status, answer = engine.request("POST", "/api/oianalytics/register", {**bad, "commandRefreshInterval": 0})
            assert status == 400 and "commandRefreshInterval" in answer["errors"]
            # A proxy login basic auth cannot carry (a colon) is a bad field too, not a server error.
            colon = registration_body(fake, useProxy=True, proxyUrl="http://127.0.0.1:9", proxyUsername="a:b")
            status, answer = engine.request("POST", "/api/oianalytics/registration/test-connection", colon)
            assert status == 400 and "proxyUsername" in answer["errors"], answer
            # Nobody listening: 503, still NOT_REGISTERED.
            unreachable = registration_body(fake, host="http://127.0.0.1:9")
            status, answer = engine.request("POST", "/api/oianalytics/register", unreachable)
            assert status == 503, answer
            # Then a good registration, unregistering, and the status test.
            assert engine.request("POST", "/api/oianalytics/register", registration_body(fake))[0] == 204
            assert engine.ok("GET", "/api/oianalytics/registration")["status"] == "PENDING"
            assert (
                engine.request("POST", "/api/oianalytics/registration/test-connection", registration_body(fake))[0]
                == 204
            )
            assert engine.request("POST", "/api/oianalytics/unregister")[0] == 204
            after = engine.ok("GET", "/api/oianalytics/registration")
            assert after["status"] == "NOT_REGISTERED" and after["activationCode"] is None
            assert fake.problems == []
        finally:
            engine.stop()
