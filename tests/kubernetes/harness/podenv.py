"""How the test kubelet turns a container spec into argv + environment for a local process."""

from __future__ import annotations

import base64
import os
import pathlib
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from typing import Any

_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_PATH = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")

Lookup = Callable[[str, str], dict[str, Any] | None]  # (kind, name) -> object or None


class ConfigError(Exception):
    """The container cannot be configured (Kubernetes: CreateContainerConfigError)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, others stay."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name = match[1]
        return env[name] if name in env else match[0]

    return _REFERENCE.sub(replace, text)


def local_argv(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """command + args, expanded, with `python` and venv console scripts made local."""
    argv = [
        expand(str(a), env) for a in [*container.get("command", []), *container.get("args", [])]
    ]
    if not argv:
        raise ConfigError(
            f"container {container.get('name')!r} has no command: the test kubelet cannot run an "
            "image's entrypoint, give the container a command"
        )
    executable = argv[0]
    if _PYTHON.match(os.path.basename(executable)):
        argv[0] = sys.executable
    elif "/" not in executable:
        # A console script of this virtualenv (e.g. `dask`) wins over the system PATH.
        venv_script = pathlib.Path(sys.executable).parent / executable
        argv[0] = (
            str(venv_script) if venv_script.exists() else shutil.which(executable) or executable
        )
    return argv


def _field(pod: Mapping[str, Any], path: str) -> str:
    if m := _FIELD_PATH.match(path):
        return str(pod["metadata"].get(m[1], {}).get(m[2], ""))
    node: Any = pod
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


def _key_ref(ref: Mapping[str, Any], kind: str, lookup: Lookup) -> str | None:
    obj = lookup(kind, ref["name"])
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{kind} "{ref["name"]}" not found')
    data = obj.get("data") or {}
    if ref["key"] not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {ref['key']} in {kind} {ref['name']}")
    value = str(data[ref["key"]])
    return base64.b64decode(value).decode() if kind == "Secret" else value


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    lookup: Lookup,
) -> dict[str, str]:
    """The variables the container declares (envFrom, then env), resolved as Kubernetes does."""
    declared: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key not in source:
                continue
            obj = lookup(kind, source[key]["name"])
            if obj is None:
                if source[key].get("optional"):
                    continue
                raise ConfigError(f'{kind.lower()} "{source[key]["name"]}" not found')
            for data_key, raw in (obj.get("data") or {}).items():
                text = base64.b64decode(raw).decode() if kind == "Secret" else str(raw)
                declared[prefix + data_key] = text
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            declared[name] = expand(str(item.get("value", "")), declared)
            continue
        source = item["valueFrom"]
        value: str | None
        if "fieldRef" in source:
            value = _field(pod, source["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in source:
            value = _key_ref(source["secretKeyRef"], "Secret", lookup)
        elif "configMapKeyRef" in source:
            value = _key_ref(source["configMapKeyRef"], "ConfigMap", lookup)
        else:
            raise ConfigError(f"env {name}: valueFrom {sorted(source)} is not supported here")
        if value is not None:
            declared[name] = value
    return declared
