"""azure-storage-blob (aio) glue of the Azure Blob North: one container client, errors as ``SendError``."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.north.azure_blob.manifest import AzureBlobSettings

__all__ = ["BlobClient", "account_url"]

# HTTP statuses worth retrying forever; any other refusal (403, 404...) counts towards the cache's retries.
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


def account_url(settings: AzureBlobSettings) -> str:
    """The blob endpoint: ``customUrl``, or ``https://<account>.blob.core.windows.net``."""
    if settings.use_custom_url and settings.custom_url:
        return settings.custom_url.rstrip("/")
    return f"https://{settings.account}.blob.core.windows.net"


def _account_name(settings: AzureBlobSettings, url: str) -> str:
    if settings.account:
        return settings.account
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = host == "localhost"
    # An emulator or IP-style endpoint carries the account in its path (http://127.0.0.1:10000/devstoreaccount1).
    return parts.path.strip("/").split("/", 1)[0] if is_ip else host.split(".", 1)[0]


class BlobClient:
    """``async with BlobClient(settings) as blobs: await blobs.upload(path, name)``."""

    def __init__(self, settings: AzureBlobSettings) -> None:
        self.settings = settings
        self._service: BlobServiceClient | None = None
        self._container: ContainerClient | None = None
        self._credential: Any = None

    async def __aenter__(self) -> BlobClient:
        settings = self.settings
        url = account_url(settings)
        credential: Any
        if settings.authentication == "access-key":
            credential = AzureNamedKeyCredential(_account_name(settings, url), settings.access_key or "")
        elif settings.authentication == "sas-token":
            credential = AzureSasCredential((settings.sas_token or "").lstrip("?"))
        elif settings.authentication == "aad":
            from azure.identity.aio import ClientSecretCredential

            credential = self._credential = ClientSecretCredential(
                settings.tenant_id or "", settings.client_id or "", settings.client_secret or ""
            )
        else:
            from azure.identity.aio import DefaultAzureCredential

            credential = self._credential = DefaultAzureCredential()
        options: dict[str, Any] = {"retry_total": 0}  # The North cache owns retries (STYLE R11).
        if settings.use_proxy:
            proxy = self._proxy_url()
            options["proxies"] = {"http": proxy, "https": proxy}
        self._service = BlobServiceClient(url, credential=credential, **options)
        self._container = self._service.get_container_client(settings.container)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._service is not None:
            await self._service.close()
            self._service = None
        if self._credential is not None:
            await self._credential.close()
            self._credential = None

    def _proxy_url(self) -> str:
        url = self.settings.proxy_url or ""
        if not self.settings.proxy_username:
            return url
        parts = urlsplit(url)
        user = quote(self.settings.proxy_username, safe="")
        credentials = f"{user}:{quote(self.settings.proxy_password or '', safe='')}"
        return urlunsplit(parts._replace(netloc=f"{credentials}@{parts.netloc}"))

    async def check(self) -> None:
        """Raise ``ConnectorNotReady`` (unreachable) or ``ConnectorError`` (refused) unless the container answers."""
        assert self._container is not None
        try:
            await self._container.get_container_properties()
        except HttpResponseError as err:
            raise ConnectorError(
                f"container {self.settings.container} refused: HTTP {err.status_code} {_code(err)}".rstrip()
            ) from err
        except (AzureError, OSError, TimeoutError) as err:
            raise ConnectorNotReady(f"blob endpoint cannot be reached: {type(err).__name__}") from err

    async def put_bytes(self, data: Any, name: str) -> None:
        """Write ``data`` (bytes or a binary file) as blob ``name``, replacing it; streamed in blocks."""
        assert self._container is not None
        try:
            await self._container.upload_blob(name, data, overwrite=True, max_concurrency=2)
        except HttpResponseError as err:
            raise SendError(
                f"Azure refused {name} in {self.settings.container}: HTTP {err.status_code} {_code(err)}",
                retry_forever=(err.status_code or 0) in _TRANSIENT,
            ) from err
        except (AzureError, OSError, TimeoutError) as err:
            raise SendError(f"blob endpoint cannot be reached: {type(err).__name__}", retry_forever=True) from err

    async def put_file(self, path: Path, name: str) -> None:
        """Stream the file at ``path`` as blob ``name``."""
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except OSError as err:
            raise SendError(f"cache file {path} cannot be read: {err.strerror or err}") from err
        try:
            await self.put_bytes(handle, name)
        finally:
            handle.close()


def _code(err: HttpResponseError) -> str:
    # The storage SDK sets ``error_code`` on the errors it raises; azure-core's type does not declare it.
    return str(getattr(err, "error_code", None) or "")
