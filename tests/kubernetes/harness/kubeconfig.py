"""Writes a kubeconfig that points kr8s, kopf or kubectl at the test API server."""

from __future__ import annotations

import pathlib

import yaml


def write_kubeconfig(
    path: pathlib.Path, server: str, namespace: str = "default", context: str = "kmock"
) -> pathlib.Path:
    """A one-context kubeconfig for `server` (plain http, a dummy token) with `namespace`."""
    if not server.startswith(("http://", "https://")):
        raise ValueError(f"server {server!r}: expected an http:// or https:// URL")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server.rstrip("/")}}],
        "users": [{"name": context, "user": {"token": "kmock-token"}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": namespace},
            }
        ],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
