"""Secrets (Flyte's Secret and secret_requests): declared by tasks, read with current_context().

Locally a secret is the environment variable SLIPSTREAM_SECRET_<GROUP>_<KEY>, or the file
<secrets folder>/<group>/<key>; on Kubernetes the runner mounts the Kubernetes Secret named
<group> (key <key>) into the Pod as that variable or file. Values are never stored or logged:
the IR and every message carry only group and key names.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass

from slipstream.errors import DefinitionError, SlipstreamError
from slipstream.ir import SecretSpec

ENV_PREFIX = "SLIPSTREAM_SECRET_"
DIR_ENV = "SLIPSTREAM_SECRETS_DIR"  # the secrets folder setting (default <home>/secrets)
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


class SecretNotFoundError(SlipstreamError, KeyError):
    """A secret a task asked for is in neither its environment variable nor its file."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Secret:
    """A secret a task needs: `Secret(group="db", key="password")`."""

    class MountType(enum.Enum):
        ANY = "any"
        ENV_VAR = "env"
        FILE = "file"

    group: str
    key: str | None = None
    group_version: str | None = None
    mount_requirement: Secret.MountType = MountType.ANY

    def __post_init__(self) -> None:
        for option in ("group", "key"):
            value = getattr(self, option)
            if not isinstance(value, str) or not _NAME.match(value):
                raise DefinitionError(
                    f"Secret({option}={value!r}): expected letters, digits, '.', '_' or '-' "
                    "(a Kubernetes Secret name and key)"
                )
        if not isinstance(self.mount_requirement, Secret.MountType):
            raise DefinitionError(
                f"Secret(mount_requirement={self.mount_requirement!r}): expected "
                "Secret.MountType.ENV_VAR or Secret.MountType.FILE"
            )

    def to_spec(self) -> SecretSpec:
        mount = "file" if self.mount_requirement is Secret.MountType.FILE else "env"
        assert self.key is not None
        return SecretSpec(group=self.group, key=self.key, mount=mount)


def secret_specs(requests: object, where: str) -> tuple[SecretSpec, ...]:
    """The IR form of a task's secret_requests."""
    if requests is None:
        return ()
    if not isinstance(requests, list | tuple) or not all(isinstance(r, Secret) for r in requests):
        raise DefinitionError(
            f"{where}: secret_requests={requests!r} must be a list of Secret(...)"
        )
    return tuple(r.to_spec() for r in requests)


def env_var_name(group: str, key: str) -> str:
    """SLIPSTREAM_SECRET_<GROUP>_<KEY>, upper-cased, other characters as '_'."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", f"{group}_{key}".upper())


def secrets_dir() -> str:
    from slipstream.config import load_settings

    return load_settings().resolved_secrets_dir


class SecretsManager:
    """current_context().secrets: get(group, key) and where a secret is mounted."""

    def get(self, group: str, key: str | None = None, group_version: str | None = None) -> str:
        if key is None:
            raise SecretNotFoundError(f"secret group {group!r}: give the key to read")
        name = env_var_name(group, key)
        value = os.environ.get(name)
        if value is not None:
            return value
        path = self.get_secrets_file(group, key)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read().strip("\n")
        raise SecretNotFoundError(
            f"secret {group}/{key} not found: set the environment variable {name} "
            f"or write it to the file {path}"
        )

    def get_secrets_env_var(self, group: str, key: str | None = None) -> str:
        return env_var_name(group, key or "")

    def get_secrets_file(self, group: str, key: str | None = None) -> str:
        return os.path.join(secrets_dir(), group, key or "")
