"""Manifest and settings of the Azure Blob North."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.manifest import ConnectorManifest, OptionalSecret

__all__ = ["MANIFEST", "AzureBlobSettings"]


class AzureBlobSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which account, container and path to write into, and how to authenticate."""

    use_adls: Annotated[
        bool, msgspec.Meta(title="Use ADLS", description="Data Lake Storage Gen2 (not supported yet: must be false).")
    ] = msgspec.field(default=False, name="useADLS")
    use_custom_url: Annotated[bool, msgspec.Meta(title="Use custom URL")] = False
    account: Annotated[str | None, msgspec.Meta(title="Account", description="Storage account name.")] = None
    custom_url: Annotated[
        str | None, msgspec.Meta(title="Custom URL", description="Blob endpoint (Azurite, sovereign clouds...).")
    ] = None
    container: Annotated[str, msgspec.Meta(min_length=3, title="Container")]
    path: Annotated[str, msgspec.Meta(title="Path", description="Blob name prefix; blobs are <path>/<file name>.")] = ""
    authentication: Annotated[
        Literal["access-key", "sas-token", "aad", "external"], msgspec.Meta(title="Authentication")
    ] = "access-key"
    access_key: Annotated[OptionalSecret, msgspec.Meta(title="Access key")] = None
    sas_token: Annotated[OptionalSecret, msgspec.Meta(title="SAS token")] = None
    tenant_id: Annotated[str | None, msgspec.Meta(title="Tenant id")] = None
    client_id: Annotated[str | None, msgspec.Meta(title="Client id")] = None
    client_secret: Annotated[OptionalSecret, msgspec.Meta(title="Client secret")] = None
    use_proxy: Annotated[bool, msgspec.Meta(title="Use proxy")] = False
    proxy_url: Annotated[str | None, msgspec.Meta(title="Proxy URL")] = None
    proxy_username: Annotated[str | None, msgspec.Meta(title="Proxy username")] = None
    proxy_password: Annotated[OptionalSecret, msgspec.Meta(title="Proxy password")] = None

    def __post_init__(self) -> None:
        if self.use_adls:
            raise ValueError("useADLS is not supported yet")
        if self.use_custom_url:
            if not self.custom_url or not self.custom_url.lower().startswith(("http://", "https://")):
                raise ValueError("customUrl must be an http:// or https:// URL when useCustomUrl is set")
        elif not self.account:
            raise ValueError("account is required unless useCustomUrl is set")
        if self.authentication == "access-key" and not self.access_key:
            raise ValueError("accessKey is required with access-key authentication")
        if self.authentication == "sas-token" and not self.sas_token:
            raise ValueError("sasToken is required with sas-token authentication")
        if self.authentication == "aad" and not (self.tenant_id and self.client_id and self.client_secret):
            raise ValueError("tenantId, clientId and clientSecret are required with aad authentication")
        if self.use_proxy and not self.proxy_url:
            raise ValueError("proxyUrl is required when useProxy is set")


MANIFEST = ConnectorManifest(
    id="azure-blob",
    kind="north",
    name="Azure Blob",
    category="file",
    description="Write files and values into an Azure Blob Storage container",
    settings=AzureBlobSettings,
    types=("any", "time-values"),
)
