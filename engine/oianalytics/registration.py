"""Registration with OIAnalytics: activation code and key pair, the check loop, unregister, settings edits.

``register`` generates a 6-character activation code and a fresh RSA pair, posts them (no Authorization
header) to ``/api/oianalytics/oibus/registration`` and stores the registration PENDING with the check URL
OIAnalytics answered. ``run_check_loop`` then polls that URL every 10 s (a fixed interval, as upstream)
until it answers ``status: "COMPLETED"`` with the access token, stored encrypted. Unregistering is local:
OIAnalytics is not told (as upstream; the operator removes the OIBus there).
"""

from __future__ import annotations

import asyncio
import os
import platform
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from connectors.common.oianalytics import OIAConnection, OIAHttpError
from connectors.errors import ConnectorError, SettingsError
from engine.config.base import random_id
from engine.config.errors import RefusedError
from engine.config.validation import convert
from engine.errors import TryAgainLater
from engine.oianalytics.cipher import KEY_SIZE, generate_key_pair
from engine.oianalytics.models import RegistrationSettings
from engine.oianalytics.repository import OIAnalyticsRepository, Registration
from engine.oianalytics.util import wait_event
from engine.version import engine_version

log = structlog.get_logger(__name__)

REGISTRATION_ENDPOINT = "/api/oianalytics/oibus/registration"
STATUS_ENDPOINT = "/api/oianalytics/oibus/status"
CHECK_INTERVAL_S = float(os.environ.get("OIBUS_OIA_CHECK_INTERVAL_S") or 10.0)
"""Seconds between two registration checks (upstream: 10; the environment variable is for tests)."""

_ARCHITECTURES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "i386": "ia32"}


def user_agent() -> str:
    """``OIBus/<version> (https://oibus.optimistik.com/)``."""
    return f"OIBus/{engine_version()} (https://oibus.optimistik.com/)"


def os_and_arch() -> tuple[str, str]:
    """What node's ``os.type() os.release()`` and ``process.arch`` would say."""
    return f"{platform.system()} {platform.release()}", _ARCHITECTURES.get(
        platform.machine().lower(), platform.machine()
    )


def connection(registration: Registration | RegistrationSettings, *, token: str | None = None) -> OIAConnection:
    """How to reach OIAnalytics with these registration settings (gateway, proxy, TLS; a token if given)."""
    gateway = registration.use_api_gateway
    found = OIAConnection(
        host=registration.host,
        user_agent=user_agent(),
        accept_unauthorized=registration.accept_unauthorized,
        use_proxy=registration.use_proxy,
        proxy_url=registration.proxy_url,
        proxy_username=registration.proxy_username,
        proxy_password=registration.proxy_password,
        gateway_header_key=registration.api_gateway_header_key if gateway else None,
        gateway_header_value=registration.api_gateway_header_value if gateway else None,
        gateway_prefix=(registration.api_gateway_base_endpoint or "") if gateway else "",
    )
    return found.with_token(token) if token else found


class RegistrationService:
    """Register, check, unregister, edit; ``on_change`` is called after every change of the registration."""

    def __init__(
        self,
        repo: OIAnalyticsRepository,
        *,
        engine_id: str,
        engine_name: Callable[[], str],
        on_change: Callable[[], None],
        key_size: int = KEY_SIZE,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self.repo = repo
        self.engine_id = engine_id
        self.engine_name = engine_name
        self.on_change = on_change
        self.key_size = key_size
        self.check_interval_s = check_interval_s
        self._check_wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._check_failing = False

    def _settings_connection(self, settings: RegistrationSettings) -> OIAConnection:
        stored = self.repo.registration()
        with_secrets = msgspec.structs.replace(
            settings,
            proxy_password=settings.proxy_password or stored.proxy_password,
            api_gateway_header_value=settings.api_gateway_header_value or stored.api_gateway_header_value,
        )
        return connection(with_secrets)

    async def register(self, body: Any) -> Registration:
        """Start a registration (see the module docstring); PENDING when OIAnalytics accepted it."""
        settings = convert(body, RegistrationSettings)
        await asyncio.to_thread(self.repo.check_settings, settings)
        target = self._settings_connection(settings)
        async with self._lock:
            public_key, private_key = await asyncio.to_thread(generate_key_pair, self.key_size)
            code = random_id(6)
            oibus_os, arch = os_and_arch()
            payload = {
                "activationCode": code,
                "oibusId": self.engine_id,
                "oibusName": self.engine_name(),
                "oibusVersion": engine_version(),
                "oibusOs": oibus_os,
                "oibusArch": arch,
                "publicKey": public_key,
            }
            try:
                raw = await target.request("POST", REGISTRATION_ENDPOINT, json=payload)
            except OIAHttpError as err:
                raise RefusedError(f"OIAnalytics refused the registration: {err}") from err
            except ConnectorError as err:
                raise TryAgainLater(f"OIAnalytics cannot be reached: {err}") from err
            try:
                answer = msgspec.json.decode(raw)
                check_url, expiration = answer["redirectUrl"], answer.get("expirationDate") or ""
                if not isinstance(check_url, str) or not check_url:
                    raise TypeError("redirectUrl")
            except (msgspec.DecodeError, KeyError, TypeError) as err:
                raise RefusedError("OIAnalytics answered the registration without a redirectUrl") from err
            await asyncio.to_thread(
                self.repo.start_registration,
                settings,
                activation_code=code,
                check_url=check_url,
                expiration_date=str(expiration),
                public_key=public_key,
                private_key=private_key,
            )
        log.info("oianalytics_registration_pending", host=settings.host, expiration=expiration)
        self._check_wake.set()
        self.on_change()
        return self.repo.registration()

    async def unregister(self) -> None:
        """Forget the token locally (OIAnalytics is not told)."""
        async with self._lock:
            await asyncio.to_thread(self.repo.unregister)
        log.info("oianalytics_unregistered")
        self.on_change()

    async def update(self, body: Any, *, from_oianalytics: bool = False) -> None:
        """Change the registration settings (never ``host``, the status, the token or the keys)."""
        settings = convert(body, RegistrationSettings)
        async with self._lock:
            await asyncio.to_thread(self.repo.update_settings, settings, from_oianalytics=from_oianalytics)
        log.info("oianalytics_registration_settings_updated", source="oianalytics" if from_oianalytics else "api")
        self.on_change()

    async def test_connection(self, body: Any) -> None:
        """``GET /api/oianalytics/oibus/status`` with these settings; 401 counts as reachable when not registered."""
        settings = convert(body, RegistrationSettings)
        stored = self.repo.registration()
        target = self._settings_connection(settings)
        if stored.registered:
            target = target.with_token(stored.token)
        try:
            await target.request("GET", STATUS_ENDPOINT)
        except OIAHttpError as err:
            if err.status == 401 and not stored.registered:
                return
            raise RefusedError(f"OIAnalytics answered {err}") from err
        except ConnectorError as err:
            raise RefusedError(f"OIAnalytics cannot be reached: {err}") from err

    async def check_once(self) -> bool:
        """Poll the check URL once; True when the registration just completed."""
        registration = self.repo.registration()
        if registration.status != "PENDING" or not registration.check_url:
            return False
        target = connection(registration)
        try:
            raw = await target.request("GET", registration.check_url, headers={"Content-Type": "application/json"})
            answer = msgspec.json.decode(raw)
        except (ConnectorError, SettingsError, msgspec.DecodeError) as err:
            if not self._check_failing:
                log.warning("oianalytics_registration_check_failed", error=str(err))
                self._check_failing = True
            return False
        if self._check_failing:
            log.info("oianalytics_registration_check_recovered")
            self._check_failing = False
        status = answer.get("status") if isinstance(answer, dict) else None
        token = answer.get("accessToken") if isinstance(answer, dict) else None
        if status != "COMPLETED":
            log.debug("oianalytics_registration_not_completed", status=status)
            return False
        if not isinstance(token, str) or not token:
            log.warning("oianalytics_registration_completed_without_token")
            return False
        async with self._lock:
            current = self.repo.registration()
            if current.status != "PENDING" or current.check_url != registration.check_url:
                return False  # re-registered or unregistered meanwhile
            await asyncio.to_thread(self.repo.activate, token)
        log.info("oianalytics_registered", host=registration.host)
        self.on_change()
        return True

    async def run_check_loop(self) -> None:
        """Check a PENDING registration every ``check_interval_s`` until it completes (runs forever)."""
        while True:
            await self.check_once()
            self._check_wake.clear()
            if self.repo.registration().status == "PENDING":
                await wait_event(self._check_wake, self.check_interval_s)
            else:
                await self._check_wake.wait()
