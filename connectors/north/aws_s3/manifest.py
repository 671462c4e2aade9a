"""Manifest and settings of the Amazon S3 North."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.manifest import SECRET, ConnectorManifest, OptionalSecret

__all__ = ["MANIFEST", "AwsS3Settings"]


class AwsS3Settings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which bucket and folder to write into, with which credentials, through which endpoint."""

    bucket: Annotated[str, msgspec.Meta(min_length=3, title="Bucket", description="Bucket name.")]
    region: Annotated[str, msgspec.Meta(min_length=1, title="Region", description="e.g. eu-west-3.")] = "eu-west-3"
    folder: Annotated[
        str, msgspec.Meta(title="Folder", description="Key prefix; objects are written as <folder>/<file name>.")
    ] = ""
    access_key: Annotated[str, msgspec.Meta(min_length=1, title="Access key")]
    secret_key: Annotated[str, msgspec.Meta(title="Secret key"), SECRET] = ""
    endpoint: (
        Annotated[
            str,
            msgspec.Meta(
                pattern="^(?i:https?)://",
                title="Custom endpoint",
                description="URL of an S3-compatible store (MinIO, Ceph...); empty for AWS.",
            ),
        ]
        | None
    ) = None
    multipart_threshold: Annotated[
        int,
        msgspec.Meta(
            ge=5,
            le=5000,
            title="Multipart threshold",
            description="Files larger than this are uploaded in parts.",
            extra={"unit": "MB"},
        ),
    ] = 64
    use_proxy: Annotated[bool, msgspec.Meta(title="Use proxy")] = False
    proxy_url: Annotated[str | None, msgspec.Meta(title="Proxy URL")] = None
    proxy_username: Annotated[str | None, msgspec.Meta(title="Proxy username")] = None
    proxy_password: Annotated[OptionalSecret, msgspec.Meta(title="Proxy password")] = None

    def __post_init__(self) -> None:
        if self.use_proxy and not self.proxy_url:
            raise ValueError("proxyUrl is required when useProxy is set")


MANIFEST = ConnectorManifest(
    id="aws-s3",
    kind="north",
    name="Amazon S3",
    category="file",
    description="Write files and values into an S3 bucket (AWS or S3-compatible)",
    settings=AwsS3Settings,
    types=("any", "time-values"),
)
