"""Parsing of API requests for the test API server (kmock's parser, fixed for namespaces)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp.web
import kmock
from kmock._internal import enums, parsing, rendering

from .objects import api_error


def parse_path(path: str) -> parsing.ParsedPath:
    """kmock's parser, fixed for /api/v1/namespaces[/name[/status]] (it treats those as scopes)."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    elif parts[:1] in (["api"], ["apis"]):
        return parsing.ParsedPath(group=parts[1] if len(parts) > 1 else None)
    else:
        return parsing.ParsedPath()
    namespace = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    return parsing.ParsedPath(
        group=group,
        version=version,
        plural=rest[0] if rest else None,
        namespace=namespace,
        name=rest[1] if len(rest) > 1 else None,
        subresource="/".join(rest[2:]) or None,
    )


async def parse_request(raw: aiohttp.web.BaseRequest, id: int) -> rendering.Request:
    """kmock's Request._parse with the fixed path parser."""
    body = await raw.read()
    text = await raw.text()
    try:
        data = await raw.json()
    except ValueError:
        data = None
    k8s = parse_path(raw.path)
    resource = None
    if k8s.group is not None:
        resource = kmock.resource(group=k8s.group, version=k8s.version, plural=k8s.plural)
    method = enums.method(raw.method)
    return rendering.Request(
        id=id,
        raw_request=raw,
        url=raw.url,
        method=raw.method,
        params=dict(raw.query),
        headers=dict(raw.headers),
        cookies=dict(raw.cookies),
        data=data,
        body=body,
        text=text,
        action=parsing.guess_k8s(k8s, method, dict(raw.query)),
        resource=resource,
        namespace=k8s.namespace,
        name=k8s.name,
        subresource=k8s.subresource,
    )


def int_param(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise api_error(400, "BadRequest", f"{name}={value!r}: expected an integer") from None
