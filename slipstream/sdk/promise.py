"""Promises: the placeholders a workflow body wires together while it is traced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slipstream.compiler.paths import PathStep, attribute_type, describe_path, item_type
from slipstream.errors import CompileError, TypeTransformError
from slipstream.ir import LiteralType, Node, Overrides
from slipstream.sdk.expressions import Comparison
from slipstream.sdk.interface import plain_outputs
from slipstream.sdk.resources import Resources


@dataclass
class NodeBuilder:
    """A node under construction; frozen into an ir.Node when tracing ends."""

    id: str
    kind: str
    target: str
    label: str  # the task or workflow name, for messages
    inputs: dict[str, Any] = field(default_factory=dict)  # name -> ir.Binding
    upstream: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Node:
        return Node(
            id=self.id,
            kind=self.kind,
            target=self.target,
            inputs=dict(self.inputs),
            upstream=tuple(self.upstream),
            overrides=Overrides(**self.overrides) if self.overrides else None,
            spec=dict(self.spec),
        )


class NodeOps:
    """Operations shared by every handle on a node: ordering and per-call overrides."""

    _node: NodeBuilder | None

    def producing_node(self) -> NodeBuilder | None:
        """The node that produces this promise (None for a workflow input)."""
        return self._node

    def _require_node(self, what: str) -> NodeBuilder:
        if self._node is None:
            raise CompileError(f"{what} applies to a task or workflow call, not a workflow input")
        return self._node

    def with_overrides(
        self,
        *,
        requests: Resources | None = None,
        limits: Resources | None = None,
        retries: int | None = None,
        timeout: float | timedelta | None = None,
        cache: bool | None = None,
        name: str | None = None,
    ) -> Any:
        node = self._require_node("with_overrides()")
        if requests is not None:
            node.overrides["requests"] = requests.to_spec()
        if limits is not None:
            node.overrides["limits"] = limits.to_spec()
        if retries is not None:
            if not isinstance(retries, int) or retries < 0:
                raise CompileError(f"with_overrides(retries={retries!r}): expected an int >= 0")
            node.overrides["retries"] = retries
        if timeout is not None:
            node.overrides["timeout_seconds"] = timeout_seconds(timeout, "with_overrides")
        if cache is not None:
            node.overrides["cache"] = bool(cache)
        if name is not None:
            node.overrides["name"] = str(name)
        return self

    def __rshift__(self, other: Any) -> Any:
        upstream = self._require_node("`>>`")
        downstream = getattr(other, "_node", None)
        if downstream is None:
            raise CompileError(f"`a >> b` needs two task or workflow calls, got {other!r}")
        if upstream.id not in downstream.upstream:
            downstream.upstream.append(upstream.id)
        return other


class Promise(NodeOps):
    """One output of a node (or one workflow input), with its type."""

    __slots__ = ("_node", "input_name", "literal_type", "output", "path", "py_type")

    def __init__(
        self,
        node: NodeBuilder | None,
        output: str,
        literal_type: LiteralType,
        py_type: Any,
        input_name: str = "",
        path: tuple[PathStep, ...] = (),
    ) -> None:
        self._node = node
        self.output = output
        self.literal_type = literal_type
        self.py_type = py_type
        self.input_name = input_name
        self.path = path

    @property
    def node_id(self) -> str:
        return self._node.id if self._node is not None else ""

    def describe(self) -> str:
        inside = f"{describe_path(self.path)} of " if self.path else ""
        if self._node is None:
            return f"{inside}workflow input {self.input_name!r}"
        return f"{inside}output {self.output!r} of node {self._node.id!r} ({self._node.label})"

    # Reading inside a value (Flyte's attribute access): resolved when the engine binds inputs.
    def __getattr__(self, name: str) -> Promise:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._step(name, attribute_type(self.py_type, name))

    def __getitem__(self, key: str | int) -> Promise:
        return self._step(key, item_type(self.py_type, key))

    def _step(self, step: PathStep, py_type: Any) -> Promise:
        from slipstream.sdk.tracing import current_tracing

        context = current_tracing()
        if context is None:
            raise CompileError(f"{self.describe()} can only be read inside a workflow body")
        try:
            literal_type = context.registry.literal_type(py_type)
        except TypeTransformError as exc:
            raise CompileError(f"{self.describe()}{describe_path((step,))}: {exc}") from None
        return Promise(
            self._node,
            self.output,
            literal_type,
            py_type,
            self.input_name,
            (*self.path, step),
        )

    def __bool__(self) -> bool:
        raise CompileError(
            f"{self.describe()} has no value while the workflow is defined; "
            "use conditional() to branch on it"
        )

    def __iter__(self) -> Any:
        raise CompileError(
            f"{self.describe()} cannot be iterated while the workflow is defined; "
            "use a @dynamic task or map_task to fan out over it"
        )

    # Comparisons build conditions for conditional(); they never compare anything here.
    def __eq__(self, other: object) -> Comparison:  # type: ignore[override]
        return Comparison("==", self, other)

    def __ne__(self, other: object) -> Comparison:  # type: ignore[override]
        return Comparison("!=", self, other)

    def __lt__(self, other: object) -> Comparison:
        return Comparison("<", self, other)

    def __le__(self, other: object) -> Comparison:
        return Comparison("<=", self, other)

    def __gt__(self, other: object) -> Comparison:
        return Comparison(">", self, other)

    def __ge__(self, other: object) -> Comparison:
        return Comparison(">=", self, other)

    # Flyte's condition helpers: `conditional("c").if_(flag.is_true())`.
    def is_true(self) -> Comparison:
        return Comparison("==", self, True)

    def is_false(self) -> Comparison:
        return Comparison("==", self, False)

    def is_none(self) -> Comparison:
        return Comparison("==", self, None)

    __hash__ = NodeOps.__hash__

    def __repr__(self) -> str:
        return f"Promise({self.describe()}: {self.literal_type})"


class VoidPromise(NodeOps):
    """The result of calling a task that returns nothing: usable only for ordering."""

    __slots__ = ("_node",)

    def __init__(self, node: NodeBuilder) -> None:
        self._node = node

    def __repr__(self) -> str:
        assert self._node is not None
        return f"VoidPromise(node {self._node.id!r})"


_TUPLE_CLASSES: dict[type, type] = {}


def node_of(promise: Promise | VoidPromise) -> NodeBuilder | None:
    """The node that produces a promise (None for a workflow input)."""
    return promise.producing_node()


def outputs_tuple(named_tuple: type, node: NodeBuilder, promises: dict[str, Promise]) -> Any:
    """The user's NamedTuple class, holding promises, that also supports overrides and `>>`.

    For outputs declared as a plain tuple (`-> tuple[int, str]`) it is a NamedTuple with the
    fields o0, o1, ...: it unpacks like the tuple and each output is also `.o0`, `.o1`.
    """
    if named_tuple is tuple:
        named_tuple = plain_outputs(tuple(promises))
    cls = _TUPLE_CLASSES.get(named_tuple)
    if cls is None:
        cls = type(named_tuple.__name__, (named_tuple, NodeOps), {"_node": None})
        _TUPLE_CLASSES[named_tuple] = cls
    value = cls(**promises)
    value.__dict__["_node"] = node
    return value


def timeout_seconds(timeout: Any, where: str) -> float:
    """A timeout given as seconds or a timedelta, validated."""
    if isinstance(timeout, timedelta):
        seconds = timeout.total_seconds()
    elif isinstance(timeout, int | float) and not isinstance(timeout, bool):
        seconds = float(timeout)
    else:
        raise CompileError(
            f"{where}: timeout={timeout!r} must be a number of seconds or a timedelta"
        )
    if seconds <= 0:
        raise CompileError(f"{where}: timeout={timeout!r} must be positive")
    return seconds
