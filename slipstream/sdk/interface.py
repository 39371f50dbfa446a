"""Typed interfaces of user functions: signature to inputs/outputs with IR types."""

from __future__ import annotations

import collections
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import DefinitionError, TypeTransformError
from slipstream.ir import TypedInterface, Variable

SINGLE_OUTPUT = "o0"


@dataclass(frozen=True)
class PythonInterface:
    """A function's inputs and outputs as Python types, beside their IR form."""

    inputs: dict[str, Any]
    defaults: dict[str, Any]
    outputs: dict[str, Any]
    output_tuple: type | None  # the NamedTuple class of named outputs; `tuple` for o0, o1, ...
    ir: TypedInterface = field(compare=False)

    def pack_outputs(self, value: Any, entity: str) -> dict[str, Any]:
        """A function's return value as {output name: value}."""
        if not self.outputs:
            if value is not None:
                raise TypeTransformError(
                    f"{entity} declares no output but returned {type(value).__name__}; "
                    "add a return type hint"
                )
            return {}
        if self.output_tuple is not None:
            if len(self.outputs) == 1 and not isinstance(value, tuple):
                return {next(iter(self.outputs)): value}  # a one-field NamedTuple, returned bare
            if not isinstance(value, tuple) or len(value) != len(self.outputs):
                raise TypeTransformError(
                    f"{entity} must return a {self.describe_outputs()}, "
                    f"got {type(value).__name__}"
                    + (f" of {len(value)} values" if isinstance(value, tuple) else "")
                )
            return dict(zip(self.outputs, value, strict=True))
        return {SINGLE_OUTPUT: value}

    def describe_outputs(self) -> str:
        """`tuple of 2 values (o0, o1)` or `Split of 2 values (low, high)`, for messages."""
        kind = "tuple" if self.output_tuple is tuple else getattr(self.output_tuple, "__name__", "")
        return f"{kind} of {len(self.outputs)} values ({', '.join(self.outputs)})"

    def unpack_outputs(self, values: dict[str, Any]) -> Any:
        """{output name: value} back to what the function returns."""
        if not self.outputs:
            return None
        if self.output_tuple is tuple:
            return plain_outputs(tuple(self.outputs))(*(values[name] for name in self.outputs))
        if self.output_tuple is not None:
            return self.output_tuple(**{name: values[name] for name in self.outputs})
        return values[SINGLE_OUTPUT]


_PLAIN_OUTPUTS: dict[tuple[str, ...], type] = {}


def plain_outputs(names: tuple[str, ...]) -> type:
    """The NamedTuple (o0, o1, ...) that a plain tuple of outputs comes back as (Flyte's name)."""
    known = _PLAIN_OUTPUTS.get(names)
    if known is None:
        known = _PLAIN_OUTPUTS[names] = collections.namedtuple("DefaultNamedTupleOutput", names)
    return known


def _is_named_tuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def tuple_members(tp: Any) -> tuple[Any, ...] | None:
    """The member types of a fixed tuple annotation (`tuple[int, str]`, `(int, str)`), else None.

    Such an annotation declares several outputs named o0, o1, ... (as in Flyte).
    """
    if isinstance(tp, tuple) and tp and not _is_named_tuple(type(tp)):
        return tp
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if args and Ellipsis not in args and args != ((),):
            return args
    return None


def _type_hints(fn: Any, entity: str) -> dict[str, Any]:
    """fn's type hints; a bare tuple return annotation `-> (int, str)` is allowed too."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise DefinitionError(f"{entity}: cannot resolve a type hint: {exc}") from None
    except TypeError:
        annotations = dict(getattr(fn, "__annotations__", {}))
        returned = annotations.pop("return", None)
        if not isinstance(returned, str):
            raise
        namespace = getattr(fn, "__globals__", {})
        try:
            value = eval(returned, namespace)
        except Exception as exc:
            raise DefinitionError(f"{entity}: cannot resolve the return type: {exc}") from None
        if not isinstance(value, tuple):
            raise
        probe = types.SimpleNamespace(__annotations__=annotations)
        hints = typing.get_type_hints(probe, globalns=namespace, include_extras=True)
        hints["return"] = value
        return hints


def build_interface(fn: Any, entity: str, registry: TypeRegistry) -> PythonInterface:
    """Read fn's signature; every parameter must have a type hint."""
    hints = _type_hints(fn, entity)
    signature = inspect.signature(fn)
    inputs: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    variables: list[Variable] = []
    ctx = TransformContext()
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise DefinitionError(
                f"{entity}: parameter {parameter}: *args and **kwargs are not allowed; "
                "declare each input with a type hint"
            )
        if name not in hints:
            raise DefinitionError(
                f"{entity}: parameter {name!r} has no type hint (write e.g. `{name}: int`)"
            )
        py_type = hints[name]
        inputs[name] = py_type
        literal_type = _literal_type(registry, py_type, f"{entity}: input {name!r}")
        if parameter.default is not parameter.empty:
            defaults[name] = parameter.default
            try:
                default = registry.to_literal(parameter.default, py_type, ctx)
            except TypeTransformError as exc:
                raise DefinitionError(
                    f"{entity}: default of input {name!r} does not match its type: {exc}"
                ) from None
            variables.append(Variable(name, literal_type, default=default, has_default=True))
        else:
            variables.append(Variable(name, literal_type))
    outputs: dict[str, Any] = {}
    output_tuple: type | None = None
    returned = hints.get("return", None)
    if returned is not None and returned is not type(None):
        if _is_named_tuple(returned):
            output_tuple = returned
            output_hints = typing.get_type_hints(returned, include_extras=True)
            for name in returned._fields:
                if name not in output_hints:
                    raise DefinitionError(
                        f"{entity}: output {name!r} of {returned.__name__} has no type hint"
                    )
                outputs[name] = output_hints[name]
        elif (members := tuple_members(returned)) is not None:
            output_tuple = tuple
            for index, member in enumerate(members):
                outputs[f"o{index}"] = member
        else:
            outputs[SINGLE_OUTPUT] = returned
    output_variables = tuple(
        Variable(name, _literal_type(registry, tp, f"{entity}: output {name!r}"))
        for name, tp in outputs.items()
    )
    ir = TypedInterface(inputs=tuple(variables), outputs=output_variables)
    return PythonInterface(inputs, defaults, outputs, output_tuple, ir)


def _literal_type(registry: TypeRegistry, py_type: Any, where: str) -> Any:
    try:
        return registry.literal_type(py_type)
    except TypeTransformError as exc:
        raise DefinitionError(f"{where}: {exc}") from None
