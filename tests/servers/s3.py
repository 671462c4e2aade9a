"""moto's S3 server mode on a kernel-assigned loopback port, for the S3 North's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

__all__ = ["moto_s3"]


@contextmanager
def moto_s3() -> Iterator[str]:
    """Yield the endpoint URL of a fresh moto server (every bucket lives in it only)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
