"""Amazon S3 North connector: writes each file (or values batch as JSON) as an object of a bucket."""

from __future__ import annotations

from connectors.common.object_store import ObjectStoreNorth
from connectors.north.aws_s3.client import S3Client
from connectors.north.aws_s3.manifest import MANIFEST, AwsS3Settings

__all__ = ["AwsS3North"]


class AwsS3North(ObjectStoreNorth[AwsS3Settings, S3Client]):
    """Uploads to ``<folder>/<file name>``; multipart above ``multipartThreshold``.

    An object appears whole or not at all (S3 semantics, multipart included), so a retried send simply
    replaces it. Network failures and 5xx/408/429 retry forever; any other refusal (403, 404...) counts towards
    the cache's retries, then the entry goes to ``error/``.
    """

    manifest = MANIFEST

    def _new_client(self) -> S3Client:
        return S3Client(self.settings)

    def _folder(self) -> str:
        return self.settings.folder
