"""Typed interfaces of user functions: signature to inputs/outputs with IR types."""

from __future__ import annotations

import inspect
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
    output_tuple: type | None  # the NamedTuple class of named outputs, if any
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
            if not isinstance(value, tuple) or len(value) != len(self.outputs):
                raise TypeTransformError(
                    f"{entity} must return a {self.output_tuple.__name__} of "
                    f"{len(self.outputs)} values, got {type(value).__name__}"
                )
            return dict(zip(self.outputs, value, strict=True))
        return {SINGLE_OUTPUT: value}

    def unpack_outputs(self, values: dict[str, Any]) -> Any:
        """{output name: value} back to what the function returns."""
        if not self.outputs:
            return None
        if self.output_tuple is not None:
            return self.output_tuple(**{name: values[name] for name in self.outputs})
        return values[SINGLE_OUTPUT]


def _is_named_tuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def build_interface(fn: Any, entity: str, registry: TypeRegistry) -> PythonInterface:
    """Read fn's signature; every parameter must have a type hint."""
    try:
        hints = typing.get_type_hints(fn, include_extras=False)
    except NameError as exc:
        raise DefinitionError(f"{entity}: cannot resolve a type hint: {exc}") from None
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
            output_hints = typing.get_type_hints(returned)
            for name in returned._fields:
                if name not in output_hints:
                    raise DefinitionError(
                        f"{entity}: output {name!r} of {returned.__name__} has no type hint"
                    )
                outputs[name] = output_hints[name]
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
