"""OPC UA address-space browsing for the explore page: one level of a node's children, one page at a time.

The cursor is the offset of the page's first child, so a page does not depend on a server-side continuation
point surviving between two HTTP requests (a server keeps few, per session, and drops them at will). Each page
asks the server for at most ``offset + size + 1`` references of the one node (``RequestedMaxReferencesPerNode``,
then BrowseNext), and releases any continuation point left; the ``+ 1`` tells whether another page exists. A
server that ignores the maximum (asyncua's does) sends the whole level once per page: still one level, never
the tree.
"""

from __future__ import annotations

from typing import Any

from asyncua import Client, ua

from connectors.common.opcua import parse_node_id
from connectors.errors import ConnectorError

__all__ = ["MAX_PAGE_SIZE", "ROOT_NODE", "browse_page", "parse_cursor"]

ROOT_NODE = "i=85"
"""The Objects folder, where a walk starts when no node is given."""
MAX_PAGE_SIZE = 1000
_NODE_CLASSES = ua.NodeClass.Object | ua.NodeClass.Variable
"""Folders, objects and variables: what an operator walks through and picks items from."""


def parse_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for (``ValueError`` naming ``cursor`` when it is not one of ours)."""
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise ValueError(f"cursor: {cursor!r} is not a cursor this server gave")
    return int(cursor)


def _child(reference: ua.ReferenceDescription) -> dict[str, Any]:
    node_class = ua.NodeClass(reference.NodeClass)
    return {
        "nodeId": reference.NodeId.to_string(),
        "browseName": reference.BrowseName.Name or "",
        "displayName": reference.DisplayName.Text or reference.BrowseName.Name or "",
        "nodeClass": node_class.name,
        # Objects may hold children; a variable is what becomes an item (it may have properties, not listed).
        "hasChildren": node_class == ua.NodeClass.Object,
    }


async def _references(client: Client, node: ua.NodeId, wanted: int) -> list[ua.ReferenceDescription]:
    description = ua.BrowseDescription()
    description.NodeId = node
    description.BrowseDirection = ua.BrowseDirection.Forward
    description.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
    description.IncludeSubtypes = True
    description.NodeClassMask = _NODE_CLASSES
    description.ResultMask = ua.BrowseResultMask.All
    params = ua.BrowseParameters()
    params.NodesToBrowse = [description]
    params.RequestedMaxReferencesPerNode = wanted
    (result,) = await client.uaclient.browse(params)
    if not result.StatusCode.is_good():
        raise ConnectorError(f"node {node.to_string()} cannot be browsed: {result.StatusCode.name}")
    references = list(result.References)
    continuation = result.ContinuationPoint
    while continuation and len(references) < wanted:
        more = ua.BrowseNextParameters()
        more.ContinuationPoints = [continuation]
        more.ReleaseContinuationPoints = False
        (result,) = await client.uaclient.browse_next(more)
        references.extend(result.References)
        continuation = result.ContinuationPoint
    if continuation:
        release = ua.BrowseNextParameters()
        release.ContinuationPoints = [continuation]
        release.ReleaseContinuationPoints = True
        await client.uaclient.browse_next(release)
    return references


async def browse_page(client: Client, node_id: str | None, cursor: str | None, size: int) -> dict[str, Any]:
    """``{nodeId, children: [...], cursor}``: up to ``size`` children from ``cursor``; ``cursor`` null at the end."""
    try:
        node = parse_node_id(node_id or ROOT_NODE, "node")
        offset = parse_cursor(cursor)
    except ValueError as err:
        raise ConnectorError(str(err)) from err
    references = await _references(client, node, offset + size + 1)
    page = references[offset : offset + size]
    more = len(references) > offset + size
    return {
        "nodeId": node.to_string(),
        "children": [_child(reference) for reference in page],
        "cursor": str(offset + size) if more else None,
    }
