"""SMB share credentials of connectors that use a Windows share (``username``, ``password``, ``domain``).

Annotated field types rather than a base struct: a base struct's fields would come first in the settings,
which would move them to the top of the UI form. Declare all three, in this order, after a connector's
own fields:

    username: SmbUsername = None
    password: SmbPassword = None
    domain: SmbDomain = None
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.manifest import SECRET

__all__ = ["SmbDomain", "SmbPassword", "SmbUsername"]

SmbUsername = Annotated[
    str | None,
    msgspec.Meta(title="Username", description="SMB share user (Windows only; ignored on Linux)."),
]
SmbPassword = Annotated[
    str | None,
    msgspec.Meta(title="Password", description="SMB share password (Windows only; ignored on Linux)."),
    SECRET,
]
SmbDomain = Annotated[
    str | None,
    msgspec.Meta(title="Domain", description="SMB share domain (Windows only; ignored on Linux)."),
]
