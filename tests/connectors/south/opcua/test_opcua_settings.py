"""OPC UA South settings: validation errors that name the field, and the manifest."""

from __future__ import annotations

import msgspec
import pytest

from connectors.common.opcua import UNSUPPORTED_POLICIES
from connectors.manifest import secret_fields
from connectors.north.opcua.manifest import OpcuaNorthSettings
from connectors.south.opcua import MANIFEST
from connectors.south.opcua.manifest import OpcuaItemSettings, OpcuaSettings


def test_settings_errors_name_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="securityPolicy must name a policy"):
        msgspec.convert({"url": "opc.tcp://h:4840", "securityMode": "sign"}, OpcuaSettings)
    with pytest.raises(msgspec.ValidationError, match=r"not an OPC UA node id"):
        msgspec.convert({"nodeId": "ns=x;q=1"}, OpcuaItemSettings)
    with pytest.raises(msgspec.ValidationError, match=r"\$.url"):
        msgspec.convert({"url": "http://h"}, OpcuaSettings)
    with pytest.raises(msgspec.ValidationError, match="username is required"):
        msgspec.convert({"url": "opc.tcp://h", "authentication": {"type": "basic"}}, OpcuaSettings)
    with pytest.raises(msgspec.ValidationError, match=r"Invalid enum value 'basic512' - at `\$.securityPolicy`"):
        msgspec.convert({"url": "opc.tcp://h", "securityPolicy": "basic512"}, OpcuaSettings)


@pytest.mark.parametrize("policy", sorted(UNSUPPORTED_POLICIES))
def test_upstream_policies_asyncua_lacks_are_refused_saying_why(policy: str) -> None:
    assert len(UNSUPPORTED_POLICIES) == 6
    for settings_type in (OpcuaSettings, OpcuaNorthSettings):
        with pytest.raises(msgspec.ValidationError, match=f"'{policy}' is offered by upstream OIBus but not supported"):
            msgspec.convert({"url": "opc.tcp://h", "securityMode": "sign", "securityPolicy": policy}, settings_type)


def test_manifest() -> None:
    dto = MANIFEST.to_dto()
    assert dto["modes"] == {"subscription": True, "lastPoint": True, "lastFile": False, "history": True}
    assert secret_fields(MANIFEST.settings) == frozenset()  # the password is nested in authentication
    auth = dto["settings"]["$defs"]["OpcuaAuthentication"]["properties"]
    assert auth["password"]["secret"] is True
