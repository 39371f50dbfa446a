"""Settings from the environment, then [tool.slipstream] in pyproject.toml; read by every layer.

Every setting has a type and a range, checked when the settings are loaded: a bad value is a
ConfigError naming the setting, where it came from, the value and what was expected.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from slipstream.errors import ConfigError
from slipstream.runtime_image import default_image

ENV_PREFIX = "SLIPSTREAM_"
RUNNERS = ("inprocess", "process", "kubernetes")
IN_CLUSTER = "in-cluster"  # the kubeconfig setting inside a Pod: its service account
DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")


@dataclass(frozen=True)
class Settings:
    """Every setting has a default that works on a laptop."""

    home: str = "~/.slipstream"
    database_url: str = ""  # default: sqlite:///$home/slipstream.db
    blob_url: str = ""  # default: file://$home/blobs
    runner: str = "inprocess"  # inprocess | process | kubernetes
    max_parallelism: int = 32
    system_retries: int = 3
    retry_backoff: float = 1.0  # seconds before the first retry; doubles, with jitter
    retry_backoff_max: float = 60.0
    offload_threshold: int = 1 << 20  # bytes of inline JSON above which values go to blobs
    warm_processes: bool = True  # process runner: fork attempts from a warm interpreter
    secrets_dir: str = ""  # default: $home/secrets; a secret is the file <group>/<key> in it
    # The server: the CLI talks to server_url when set, sending server_token; serve accepts
    # the tokens in server_tokens_file (default $home/server/tokens.json) and server_token
    server_url: str = ""
    server_token: str = ""
    server_tokens_file: str = ""
    # The server refuses request bodies over max_request_bytes and uploads (UI uploads, code
    # bundles) over max_upload_bytes, with 413; File, Directory and DataFrame inputs given over
    # its API must be in its blob store or under one of allowed_input_prefixes (object-store
    # prefixes such as s3://bucket/data/), from where they are copied into the blob store
    max_request_bytes: int = 16 << 20
    max_upload_bytes: int = 256 << 20
    allowed_input_prefixes: list[str] = field(default_factory=list)
    # Several servers on one PostgreSQL: a server that has not renewed its lease on an
    # execution for lease_seconds loses it to another; each drives at most
    # server_max_executions at once (more wait, QUEUED, for a server with room).
    lease_seconds: float = 15.0
    server_max_executions: int = 256
    # Kubernetes
    namespace: str = "default"
    image: str = field(default_factory=default_image)  # the runtime image of this version
    service_account: str = "slipstream"
    blob_secret: str = ""  # a Secret whose keys become the runner's environment
    kubeconfig: str = ""  # "" = $KUBECONFIG / ~/.kube/config, IN_CLUSTER inside a Pod
    # Seconds an attempt may wait on what may clear (unschedulable, a full quota, an image
    # pull back-off, a crash loop, an operator error) before it is a system failure.
    pending_timeout: float = 600.0
    delete_timeout: float = 30.0  # seconds to wait for an ended attempt's Pods to go
    # Task Pods and Dask Pods run as this account (no API rights by default, as
    # `slipstream k8s manifests` makes it), without its token unless task_service_account_token.
    task_service_account: str = "slipstream-task"
    task_service_account_token: bool = False
    image_pull_policy: str = ""  # "" = Always for a tag, IfNotPresent for an image@sha256:...
    run_as_user: int = 1000  # uid (and gid, fsGroup) of every container; 0 = the image's user
    # {} = any spot label of GKE, EKS, AKS, Karpenter or kops (runners/kubernetes/podspec.py)
    spot_node_selector: dict[str, str] = field(default_factory=dict)
    spot_tolerations: list[dict[str, str]] = field(
        default_factory=lambda: [
            {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}
            for key, value in (
                ("cloud.google.com/gke-spot", "true"),
                ("kubernetes.azure.com/scalesetpriority", "spot"),
                ("node.kubernetes.io/lifecycle", "spot"),
            )
        ]
    )
    gpu_tolerations: list[dict[str, str]] = field(
        default_factory=lambda: [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    )

    @property
    def home_path(self) -> Path:
        return Path(os.path.expanduser(self.home)).resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_path / 'slipstream.db'}"

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file://{self.home_path / 'blobs'}"

    @property
    def resolved_secrets_dir(self) -> str:
        return os.path.expanduser(self.secrets_dir) or str(self.home_path / "secrets")

    def with_values(self, **values: Any) -> Settings:
        return replace(self, **values)


# -- parsing one raw value (text from the environment, or a TOML value) -------------------------


class _Bad(Exception):
    """A value that does not fit; carries what was expected."""


def _as_int(raw: Any) -> int:
    if isinstance(raw, bool | float):
        raise _Bad("an integer")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise _Bad("an integer") from None


def _as_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise _Bad("a number")
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise _Bad("a number") from None
    if not math.isfinite(value):
        raise _Bad("a finite number")
    return value


def _as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise _Bad("a boolean (true or false)")


def _as_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise _Bad("a string")
    return raw


def _as_json(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _Bad(f"valid JSON ({exc})") from None
    return raw


# -- checks of a parsed value: return the problem, or "" --------------------------------------

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def _at_least(minimum: int, what: str) -> Callable[[Any], str]:
    return lambda value: "" if value >= minimum else f"{what} >= {minimum}"


def _between(low: float, high: float, what: str) -> Callable[[Any], str]:
    return lambda value: "" if low <= value <= high else f"{what} from {low:g} to {high:g}"


def _home(value: str) -> str:
    if not value.strip():
        return "a folder path"
    path = Path(os.path.expanduser(value))
    if path.exists() and not path.is_dir():
        return f"a folder ({path} exists and is not a folder)"
    return ""


def database_url_problem(url: str) -> str:
    """What is wrong with a database URL ("" when nothing); shared with the metadata store."""
    expected = "sqlite:///path/to/file.db or postgresql://user@host:port/db"
    if "://" not in url:
        return f"a URL ({expected})"
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in DATABASE_SCHEMES:
        return f"a URL of scheme sqlite or postgresql ({expected})"
    if scheme.lower().startswith("sqlite"):
        database = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return f"an SQLite file, not in memory ({expected})"
    elif not rest.split("/", 1)[0].rsplit("@", 1)[-1]:
        return f"a PostgreSQL URL with a host ({expected})"
    return ""


def _database_url(value: str) -> str:
    return database_url_problem(value) if value else ""


def _blob_url(value: str) -> str:
    if not value or value.startswith("/"):
        return ""
    scheme, sep, rest = value.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return "a URL such as file:///abs/path, s3://bucket/prefix or an absolute path"
    if scheme == "file" and not rest.startswith("/"):
        return "an absolute file URL (file:///abs/path, with three slashes)"
    return ""


def _server_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not value or (sep and scheme in ("http", "https") and rest.split("/", 1)[0]):
        return ""
    return "an http:// or https:// URL with a host (e.g. http://127.0.0.1:8765)"


def _prefixes(value: Any) -> str:
    expected = (
        'a JSON list of object-store prefixes (["s3://bucket/data/"]): a scheme other than '
        'file://, a bucket, no "." or ".." parts'
    )
    if not isinstance(value, list):
        return expected
    for item in value:
        scheme, sep, rest = item.partition("://") if isinstance(item, str) else ("", "", "")
        parts = rest.rstrip("/").split("/")
        bad_scheme = scheme.lower() in ("file", "local") or "::" in item if sep else True
        if bad_scheme or not _SCHEME.fullmatch(scheme) or not parts[0]:
            return f"{expected}, not {item!r}"
        if any(p in (".", "..") or "\\" in p or not p.isprintable() for p in parts):
            return f"{expected}, not {item!r}"
    return ""


def _one_of(names: tuple[str, ...]) -> Callable[[str], str]:
    return lambda value: "" if value in names else f"one of {', '.join(names)}"


def _pattern(regex: re.Pattern[str], what: str, allow_empty: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if (allow_empty and not value) or regex.fullmatch(value):
            return ""
        return what

    return check


def _string_map(value: Any) -> str:
    ok = isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
    return "" if ok else 'a JSON object of strings ({"label": "value"})'


def _tolerations(value: Any) -> str:
    ok = isinstance(value, list) and all(
        isinstance(item, dict) and all(isinstance(k, str) for k in item) for item in value
    )
    return "" if ok else "a JSON list of toleration objects"


@dataclass(frozen=True)
class Rule:
    parse: Callable[[Any], Any]
    check: Callable[[Any], str] = lambda value: ""


RULES: dict[str, Rule] = {
    "home": Rule(_as_str, _home),
    "database_url": Rule(_as_str, _database_url),
    "blob_url": Rule(_as_str, _blob_url),
    "runner": Rule(_as_str, _one_of(RUNNERS)),
    "max_parallelism": Rule(_as_int, _at_least(1, "an integer")),
    "system_retries": Rule(_as_int, _at_least(0, "an integer")),
    "retry_backoff": Rule(_as_float, _at_least(0, "a number")),
    "retry_backoff_max": Rule(_as_float, _at_least(0, "a number")),
    "offload_threshold": Rule(_as_int, _at_least(0, "an integer")),
    "warm_processes": Rule(_as_bool),
    "namespace": Rule(_as_str, _pattern(_DNS_LABEL, "a Kubernetes namespace name", False)),
    "image": Rule(_as_str),
    "service_account": Rule(
        _as_str, _pattern(_DNS_NAME, "a Kubernetes service account name", True)
    ),
    "blob_secret": Rule(_as_str, _pattern(_DNS_NAME, "a Kubernetes Secret name", True)),
    "kubeconfig": Rule(_as_str),
    "spot_node_selector": Rule(_as_json, _string_map),
    "spot_tolerations": Rule(_as_json, _tolerations),
    "gpu_tolerations": Rule(_as_json, _tolerations),
    "pending_timeout": Rule(_as_float, _at_least(0, "a number")),
    "delete_timeout": Rule(_as_float, _at_least(0, "a number")),
    "task_service_account": Rule(
        _as_str, _pattern(_DNS_NAME, "a Kubernetes service account name", True)
    ),
    "task_service_account_token": Rule(_as_bool),
    "image_pull_policy": Rule(_as_str, _one_of(("", "Always", "IfNotPresent", "Never"))),
    "run_as_user": Rule(_as_int, _at_least(0, "an integer")),
    "secrets_dir": Rule(_as_str, lambda value: _home(value) if value else ""),
    "server_url": Rule(_as_str, _server_url),
    "server_token": Rule(_as_str),
    "server_tokens_file": Rule(_as_str),
    "max_request_bytes": Rule(_as_int, _at_least(1024, "a number of bytes")),
    "max_upload_bytes": Rule(_as_int, _at_least(1024, "a number of bytes")),
    "allowed_input_prefixes": Rule(_as_json, _prefixes),
    "lease_seconds": Rule(_as_float, _between(1, 3600, "a number of seconds")),
    "server_max_executions": Rule(_as_int, _at_least(1, "an integer")),
}


def checked(name: str, raw: Any, source: str) -> Any:
    """raw parsed and checked as setting `name`; a ConfigError naming all of it otherwise."""
    rule = RULES[name]
    try:
        value = rule.parse(raw)
        problem = rule.check(value)
    except _Bad as bad:
        problem = str(bad)
    if problem:
        raise ConfigError(
            f"setting {name}={raw!r} (from {source}) is not valid: expected {problem}"
        )
    return value


def _find_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _pyproject_table(pyproject: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(pyproject.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{pyproject} cannot be read ({exc}); slipstream reads its [tool.slipstream] table: "
            "fix the file, or run from a folder outside this project"
        ) from None
    table = document.get("tool", {}).get("slipstream", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.slipstream] is not a table")
    return table


def load_settings(cwd: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Environment variables (SLIPSTREAM_<NAME>) win over [tool.slipstream] in pyproject.toml."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    pyproject = _find_pyproject(Path(cwd or os.getcwd()).resolve())
    if pyproject is not None:
        source = f"[tool.slipstream] in {pyproject}"
        for key, raw in _pyproject_table(pyproject).items():
            name = key.replace("-", "_")
            if name not in RULES:
                raise ConfigError(
                    f"{pyproject}: unknown setting {key!r} in [tool.slipstream] "
                    f"(known: {', '.join(sorted(RULES))})"
                )
            values[name] = checked(name, raw, source)
    for f in fields(Settings):
        variable = ENV_PREFIX + f.name.upper()
        raw = env.get(variable)
        if raw is not None and raw != "":
            values[f.name] = checked(f.name, raw, f"the environment variable {variable}")
    if "home" not in values:
        checked("home", Settings.home, "the default")
    return replace(Settings(), **values)
