"""aiobotocore glue of the S3 North: one client, streamed uploads, errors translated into ``SendError``."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiobotocore.session
import botocore.exceptions
from aiobotocore.config import AioConfig

from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.north.aws_s3.manifest import AwsS3Settings

__all__ = ["PART_BYTES", "S3Client"]

PART_BYTES = 16 * 1024 * 1024
"""Size of each part of a multipart upload (S3 wants at least 5 MB but the last): one part in memory at once."""

_MB = 1024 * 1024
# HTTP statuses worth retrying forever; any other refusal (403 AccessDenied, 404 NoSuchBucket...) counts
# towards the cache's retries.
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


class S3Client:
    """``async with S3Client(settings) as s3: await s3.upload(path, key)``."""

    def __init__(self, settings: AwsS3Settings) -> None:
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None

    async def __aenter__(self) -> S3Client:
        session = aiobotocore.session.get_session()
        proxies = {"http": self._proxy_url(), "https": self._proxy_url()} if self.settings.use_proxy else None
        config = AioConfig(
            proxies=proxies,
            retries={"max_attempts": 1, "mode": "standard"},  # The North cache owns retries (STYLE R11).
            connect_timeout=15,
            read_timeout=60,
            s3={"addressing_style": "path"} if self.settings.endpoint else None,
        )
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "s3",
                region_name=self.settings.region,
                endpoint_url=self.settings.endpoint or None,
                aws_access_key_id=self.settings.access_key,
                aws_secret_access_key=self.settings.secret_key,
                config=config,
            )
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def _proxy_url(self) -> str:
        url = self.settings.proxy_url or ""
        if not self.settings.proxy_username:
            return url
        parts = urlsplit(url)
        credentials = (
            f"{quote(self.settings.proxy_username, safe='')}:{quote(self.settings.proxy_password or '', safe='')}"
        )
        return urlunsplit(parts._replace(netloc=f"{credentials}@{parts.netloc}"))

    async def check(self) -> None:
        """Raise ``ConnectorNotReady`` (unreachable) or ``ConnectorError`` (refused) unless the bucket answers."""
        try:
            await self._client.head_bucket(Bucket=self.settings.bucket)
        except botocore.exceptions.ClientError as err:
            status = _status(err)
            raise ConnectorError(f"bucket {self.settings.bucket} refused: HTTP {status} {_code(err)}") from err
        except (botocore.exceptions.BotoCoreError, OSError, TimeoutError) as err:
            raise ConnectorNotReady(f"S3 endpoint cannot be reached: {type(err).__name__}") from err

    async def put_file(self, path: Path, key: str) -> None:
        """Upload ``path`` as ``key``: one PUT, or a multipart upload above the threshold."""
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
        except OSError as err:
            raise SendError(f"cache file {path} cannot be read: {err.strerror or err}") from err
        try:
            if size > self.settings.multipart_threshold * _MB:
                await self._multipart(path, key)
            else:
                body = await asyncio.to_thread(path.read_bytes)
                await self._client.put_object(Bucket=self.settings.bucket, Key=key, Body=body)
        except botocore.exceptions.ClientError as err:
            status = _status(err)
            raise SendError(
                f"S3 refused {key} in {self.settings.bucket}: HTTP {status} {_code(err)}",
                retry_forever=status in _TRANSIENT,
            ) from err
        except (botocore.exceptions.BotoCoreError, OSError, TimeoutError) as err:
            raise SendError(f"S3 endpoint cannot be reached: {type(err).__name__}", retry_forever=True) from err

    async def put_bytes(self, data: bytes, key: str) -> None:
        """Upload ``data`` as ``key`` in one PUT (a values batch)."""
        try:
            await self._client.put_object(Bucket=self.settings.bucket, Key=key, Body=data)
        except botocore.exceptions.ClientError as err:
            status = _status(err)
            raise SendError(
                f"S3 refused {key} in {self.settings.bucket}: HTTP {status} {_code(err)}",
                retry_forever=status in _TRANSIENT,
            ) from err
        except (botocore.exceptions.BotoCoreError, OSError, TimeoutError) as err:
            raise SendError(f"S3 endpoint cannot be reached: {type(err).__name__}", retry_forever=True) from err

    async def _multipart(self, path: Path, key: str) -> None:
        bucket = self.settings.bucket
        created = await self._client.create_multipart_upload(Bucket=bucket, Key=key)
        upload_id = created["UploadId"]
        parts: list[dict[str, Any]] = []
        source = await asyncio.to_thread(path.open, "rb")
        try:
            number = 1
            while chunk := await asyncio.to_thread(source.read, PART_BYTES):
                answer = await self._client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                number += 1
            await self._client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # Parts left behind are billed until aborted: abort, but never hide the first failure.
            with contextlib.suppress(Exception):
                await self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise
        finally:
            source.close()


def _status(err: botocore.exceptions.ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(err: botocore.exceptions.ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code") or "")
