"""A private Mosquitto broker for tests that need auth, TLS or a restart: a real child process on its own port.

    with private_mosquitto(tmp_path, users={"oibus": "secret"}) as broker:
        broker.url  # mqtt://127.0.0.1:<port>

The broker keeps sessions and queued messages in its folder (``persistence``) across ``restart()``, and keeps
every message queued for an offline persistent session (no ``max_queued_messages`` limit), so that a test
can tell a loss by OIBus from a drop by the broker.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import require_service
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
MACHINE_PORT = 1883
"""The machine's Mosquitto (anonymous, loopback)."""


def machine_broker_url() -> str:
    """URL of the machine's Mosquitto (the test is skipped, or fails in CI, when it does not answer)."""
    require_service("mosquitto", "127.0.0.1", MACHINE_PORT)
    return f"mqtt://127.0.0.1:{MACHINE_PORT}"


def topic_prefix() -> str:
    """A topic prefix of one test alone (the machine broker is shared by parallel tests)."""
    return f"oibus-test/{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files of a test PKI: a CA, the broker's certificate (127.0.0.1, localhost) and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(folder: Path, client_name: str = "oibus-client") -> TlsFiles:
    """Create a CA and the broker and client certificates it signs."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(path: Path, private: ec.EllipticCurvePrivateKey) -> Path:
        path.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return path

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("OIBus test CA"))
        .issuer_name(name("OIBus test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(common: str, private: ec.EllipticCurvePrivateKey, server: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca.subject)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(ca_key, hashes.SHA256())

    server_key, client_key = key(), key()
    files = TlsFiles(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=write_key(folder / "server.key", server_key),
        client_cert=folder / "client.pem",
        client_key=write_key(folder / "client.key", client_key),
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(issue("127.0.0.1", server_key, True).public_bytes(serialization.Encoding.PEM))
    files.client_cert.write_bytes(issue(client_name, client_key, False).public_bytes(serialization.Encoding.PEM))
    return files


PORT_ATTEMPTS = 5


class PortTaken(RuntimeError):
    """Another process took the port between the probe and the broker's bind."""


def _probe_port() -> int:
    """A port the system assigns to a probe socket (closed at once: the broker binds it next)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, offset: int) -> str:
    """What was appended to ``path`` after ``offset``."""
    if not path.exists():
        return ""
    with path.open("rb") as file:
        file.seek(offset)
        return file.read().decode(errors="replace")


class Mosquitto:
    """``mosquitto -c <conf>`` on a free loopback port; ``stop`` saves its sessions, ``start`` restores them."""

    def __init__(
        self,
        folder: Path,
        *,
        users: dict[str, str] | None = None,
        tls: TlsFiles | None = None,
        require_certificate: bool = False,
    ) -> None:
        self.folder = folder
        self.port = 0
        """Chosen at the first ``start``; restarts keep it."""
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            "user root",
            f"allow_anonymous {'false' if users or require_certificate else 'true'}",
            "persistence true",
            f"persistence_location {folder}/",
            "autosave_interval 0",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            f"log_dest file {folder / 'mosquitto.log'}",
            "log_type all",
        ]
        if users:
            password_file = folder / "passwords"
            password_file.write_text("")
            for user, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(password_file), user, password], check=True)
            lines.append(f"password_file {password_file}")
        if tls is not None:
            lines += [f"cafile {tls.ca}", f"certfile {tls.server_cert}", f"keyfile {tls.server_key}"]
            if require_certificate:
                lines += ["require_certificate true", "use_identity_as_username true"]
        self._settings = lines

    @property
    def url(self) -> str:
        """The broker's URL (``mqtts://`` with TLS)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        """Spawn the broker and wait until it listens.

        Mosquitto cannot listen on a port the system assigns (its port 0 means a Unix socket), so the first
        start takes a port the system just assigned to a probe socket and, should another process take it
        first, starts again on another one: the broker's own log says whether it got the port.
        """
        if self.port:
            return self._spawn(self.port, timeout_s)
        for _ in range(PORT_ATTEMPTS):
            try:
                return self._spawn(_probe_port(), timeout_s)
            except PortTaken:
                continue
        raise RuntimeError(f"mosquitto found every port taken after {PORT_ATTEMPTS} attempts: {self.log()}")

    def _spawn(self, port: int, timeout_s: float) -> Mosquitto:
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join([f"listener {port} 127.0.0.1", *self._settings]) + "\n")
        # Only what this start writes tells whether it listens: the files keep earlier runs.
        logs = [self.folder / "mosquitto.log", self.folder / "stderr.log"]
        offsets = [path.stat().st_size if path.exists() else 0 for path in logs]
        with logs[1].open("ab") as stderr:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            said = "".join(_tail(path, offset) for path, offset in zip(logs, offsets, strict=True))
            if self.proc.poll() is not None:
                self.proc = None
                if "Address already in use" in said and not self.port:
                    raise PortTaken(port)
                raise RuntimeError(f"mosquitto exited: {self.log()}")
            if f"listen socket on port {port}" in said:
                self.port = port
                return self
            time.sleep(0.05)
        raise TimeoutError(f"mosquitto not listening after {timeout_s} s: {self.log()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (the broker saves its sessions and queues), then wait."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self.proc = None

    def restart(self) -> None:
        """Stop, then start again on the same port with the saved sessions."""
        self.stop()
        self.start()

    def log(self) -> str:
        """What the broker logged."""
        parts = [p.read_text(errors="replace") for p in (self.folder / "stderr.log", self.folder / "mosquitto.log")]
        return "\n".join(part for part in parts if part)

    def publish(self, topic: str, lines: list[str], *, qos: int = 1, **options: str) -> None:
        """Publish one message per line with the real ``mosquitto_pub`` client; fails unless all were accepted."""
        if self.tls is not None:
            options = {"cafile": str(self.tls.ca), **options}
        publish(self.port, topic, lines, qos=qos, options=options)


def publish_command(
    port: int, topic: str, *, qos: int = 1, retain: bool = False, options: dict[str, str] | None = None
) -> list[str]:
    """``mosquitto_pub -l`` (one message per line of its input); options: username, password, cafile, cert, key."""
    command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos), "-l"]
    if retain:
        command.append("-r")
    flags = {"username": "-u", "password": "-P", "cafile": "--cafile", "cert": "--cert", "key": "--key"}
    for name, value in (options or {}).items():
        command += [flags[name], value]
    return command


def publish(
    port: int,
    topic: str,
    lines: list[str],
    *,
    qos: int = 1,
    retain: bool = False,
    options: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> None:
    """Publish one message per line with ``mosquitto_pub``; returns once the client exited successfully."""
    done = subprocess.run(
        publish_command(port, topic, qos=qos, retain=retain, options=options),
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, done.stderr


def clear_retained(port: int, topic: str) -> None:
    """Remove the retained message of ``topic`` (an empty retained message)."""
    done = subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-r", "-n"], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr


@contextlib.contextmanager
def private_mosquitto(
    folder: Path,
    *,
    users: dict[str, str] | None = None,
    tls: TlsFiles | None = None,
    require_certificate: bool = False,
) -> Iterator[Mosquitto]:
    """A started private broker, stopped at the end whatever happens."""
    broker = Mosquitto(folder, users=users, tls=tls, require_certificate=require_certificate).start()
    try:
        yield broker
    finally:
        broker.stop()
