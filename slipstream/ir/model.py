"""The frozen data model of tasks, workflows, types and values; built by SDK and compiler."""

from __future__ import annotations

from typing import Any

import msgspec

from slipstream.types import API_VERSION


class LiteralType(msgspec.Struct, frozen=True, omit_defaults=True):
    """The type of a value.

    ``kind`` is one of: int, float, str, bool, datetime, timedelta, none, list, dict, union,
    enum, struct, dataframe, file, directory, pickle.
    """

    kind: str
    item: LiteralType | None = None  # list / dict value type
    variants: tuple[LiteralType, ...] = ()  # union members
    name: str = ""  # enum / struct / dataframe / pickle: the Python type's qualified name
    values: tuple[str, ...] = ()  # enum member values (as JSON strings)
    schema: str = ""  # struct: JSON schema, serialised
    format: str = ""  # dataframe: "pandas" | "arrow"

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list[{self.item}]"
        if self.kind == "dict":
            return f"dict[str, {self.item}]"
        if self.kind == "union":
            return " | ".join(str(v) for v in self.variants)
        if self.name:
            return f"{self.kind}:{self.name}"
        return self.kind


class Literal(msgspec.Struct, frozen=True, omit_defaults=True):
    """A value. Inline JSON in ``value``; or offloaded to the blob store at ``uri``.

    A collection holding offloaded members keeps them as nested literals in ``items`` (list)
    or ``entries`` (dict). ``hash`` is the sha256 content hash of offloaded data.
    """

    value: Any = None
    uri: str = ""
    hash: str = ""
    format: str = ""  # "", "json", "parquet", "pickle", "file", "directory"
    items: tuple[Literal, ...] | None = None
    entries: dict[str, Literal] | None = None
    variant: int = -1  # union: index of the member type the value was encoded with


LiteralMap = dict[str, Literal]


class Variable(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    type: LiteralType
    default: Literal | None = None
    has_default: bool = False
    description: str = ""


class TypedInterface(msgspec.Struct, frozen=True, omit_defaults=True):
    inputs: tuple[Variable, ...] = ()
    outputs: tuple[Variable, ...] = ()

    def input(self, name: str) -> Variable | None:
        for variable in self.inputs:
            if variable.name == name:
                return variable
        return None

    def output(self, name: str) -> Variable | None:
        for variable in self.outputs:
            if variable.name == name:
                return variable
        return None


class ResourceSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    """Kubernetes quantities, already validated ("500m", "32Gi")."""

    cpu: str = ""
    mem: str = ""
    gpu: str = ""
    ephemeral_storage: str = ""


class CacheSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    version: str = ""
    ignored_inputs: tuple[str, ...] = ()
    ttl_seconds: float | None = None
    serialize: bool = False


class SecretSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    """A secret a task reads: the Kubernetes Secret `group`, its `key`; never its value."""

    group: str
    key: str
    mount: str = "env"  # "env": SLIPSTREAM_SECRET_<GROUP>_<KEY>; "file": <dir>/<group>/<key>


class TaskTemplate(msgspec.Struct, frozen=True, kw_only=True, rename={"api_version": "apiVersion"}):
    """Everything needed to run one task, anywhere."""

    api_version: str = API_VERSION
    name: str
    function: str  # "module:qualname" resolved by the runner
    interface: TypedInterface
    source_hash: str = ""  # hash of the function's source: the default cache version
    task_type: str = "python"
    config: dict[str, Any] = msgspec.field(default_factory=dict)  # the plugin's own settings
    retries: int = 0
    timeout_seconds: float | None = None
    interruptible: bool = False
    cache: CacheSpec | None = None
    requests: ResourceSpec = ResourceSpec()
    limits: ResourceSpec = ResourceSpec()
    image: str = ""
    environment: dict[str, str] = msgspec.field(default_factory=dict)
    source_file: str = ""  # the file that defines the function, for runners that import it
    secrets: tuple[SecretSpec, ...] = ()


class Binding(msgspec.Struct, frozen=True, omit_defaults=True):
    """Where a node input comes from.

    kind: "input" (a workflow input), "promise" (a node's output), "literal" (a constant),
    "list" / "dict" (a collection of bindings).
    """

    kind: str
    name: str = ""  # workflow input name ("input") or output name ("promise")
    node: str = ""  # "promise": the upstream node id
    literal: Literal | None = None
    items: tuple[Binding, ...] = ()
    entries: dict[str, Binding] | None = None
    index: int = -1  # "promise" on a list output element, for dynamic bodies; -1 = whole output
    path: tuple[str | int, ...] = ()  # "promise"/"input": a field, key or index inside the value


class Overrides(msgspec.Struct, frozen=True, omit_defaults=True):
    requests: ResourceSpec | None = None
    limits: ResourceSpec | None = None
    retries: int | None = None
    timeout_seconds: float | None = None
    cache: bool | None = None
    name: str = ""


class Node(msgspec.Struct, frozen=True, omit_defaults=True):
    """One step of a workflow: a task, a sub-workflow, or a plugin-defined construct."""

    id: str
    kind: str  # "task" | "workflow" | plugin-defined kinds ("map", "branch", "dynamic", ...)
    target: str = ""  # template name in WorkflowTemplate.tasks / .workflows
    inputs: dict[str, Binding] = msgspec.field(default_factory=dict)
    upstream: tuple[str, ...] = ()  # explicit ordering (a >> b), beyond data dependencies
    overrides: Overrides | None = None
    spec: dict[str, Any] = msgspec.field(default_factory=dict)  # kind-specific data


class WorkflowTemplate(
    msgspec.Struct, frozen=True, kw_only=True, rename={"api_version": "apiVersion"}
):
    api_version: str = API_VERSION
    name: str
    interface: TypedInterface
    nodes: tuple[Node, ...]
    outputs: dict[str, Binding]
    tasks: dict[str, TaskTemplate] = msgspec.field(default_factory=dict)
    workflows: dict[str, WorkflowTemplate] = msgspec.field(default_factory=dict)
    source_file: str = ""
    failure_node: Node | None = None  # on_failure: runs when the workflow fails
    failure_policy: str = ""  # "" = fail immediately; "after_executable": run what still can


class ScheduleSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    """When a launch plan fires: a cron expression, or a fixed rate in seconds.

    ``kickoff_time_input_arg`` names the workflow input (a datetime) that receives the
    scheduled time of each firing; "" when the plan passes none.
    """

    cron: str = ""
    rate_seconds: float = 0.0
    kickoff_time_input_arg: str = ""


class LaunchPlanTemplate(
    msgspec.Struct, frozen=True, kw_only=True, rename={"api_version": "apiVersion"}
):
    """A named way to launch a workflow: inputs it fills in, a schedule, labels.

    Launching it takes the workflow's own defaults, then ``default_inputs``, then the inputs
    given at launch, then ``fixed_inputs`` (which no launch may override).
    """

    api_version: str = API_VERSION
    name: str
    workflow: str  # the WorkflowTemplate's name
    default_inputs: dict[str, Literal] = msgspec.field(default_factory=dict)
    fixed_inputs: dict[str, Literal] = msgspec.field(default_factory=dict)
    schedule: ScheduleSpec | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class ErrorDocument(
    msgspec.Struct, frozen=True, kw_only=True, rename={"api_version": "apiVersion"}
):
    """error.json: what went wrong in an attempt."""

    api_version: str = API_VERSION
    kind: str  # "user" | "system"
    recoverable: bool
    type: str  # "module.QualName" of the exception
    message: str
    traceback: str = ""
    timed_out: bool = False


class LiteralMapDocument(
    msgspec.Struct, frozen=True, kw_only=True, rename={"api_version": "apiVersion"}
):
    """inputs.json / outputs.json."""

    api_version: str = API_VERSION
    literals: dict[str, Literal]
