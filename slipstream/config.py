"""Settings from the environment, then [tool.slipstream] in pyproject.toml; read by every layer."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from slipstream.errors import ConfigError

ENV_PREFIX = "SLIPSTREAM_"


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
    # The server: the CLI talks to server_url when set; serve and the CLI use server_token
    server_url: str = ""
    server_token: str = ""
    # Kubernetes
    namespace: str = "default"
    image: str = ""
    service_account: str = "slipstream"
    blob_secret: str = ""  # a Secret whose keys become the runner's environment
    kubeconfig: str = ""  # "" = $KUBECONFIG / ~/.kube/config, "in-cluster" inside a Pod
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


_JSON_FIELDS = {"spot_node_selector", "spot_tolerations", "gpu_tolerations"}


def _coerce(name: str, raw: Any, default: Any) -> Any:
    if name in _JSON_FIELDS:
        if isinstance(raw, str):
            import json

            try:
                return json.loads(raw)
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r} is not valid JSON: {exc}") from None
        return raw
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}={raw!r} is not a boolean (expected true or false)")
    if isinstance(default, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={raw!r} is not a number") from None
    return str(raw)


def _find_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(cwd: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Environment variables (SLIPSTREAM_<NAME>) win over [tool.slipstream] in pyproject.toml."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    values: dict[str, Any] = {}
    pyproject = _find_pyproject(Path(cwd or os.getcwd()).resolve())
    if pyproject is not None:
        try:
            table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("slipstream", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{pyproject}: cannot read [tool.slipstream]: {exc}") from None
        known = {f.name for f in fields(Settings)}
        for key, raw in table.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(
                    f"{pyproject}: unknown setting {key!r} in [tool.slipstream] "
                    f"(known: {', '.join(sorted(known))})"
                )
            values[name] = _coerce(name, raw, getattr(defaults, name))
    for f in fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _coerce(f.name, raw, getattr(defaults, f.name))
    settings = replace(defaults, **values)
    if settings.runner not in {"inprocess", "process", "kubernetes"}:
        raise ConfigError(
            f"runner={settings.runner!r} is not one of inprocess, process, kubernetes"
        )
    return settings
