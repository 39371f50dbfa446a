"""Human labels for Python types (``list[int]``, ``Optional[str]``); used in every error message."""

from __future__ import annotations

import types
import typing
from typing import Any

_NONE_TYPES = (None, type(None))


def is_union(py_type: Any) -> bool:
    """True for ``Union[A, B]``, ``Optional[A]`` and ``A | B``."""
    origin = typing.get_origin(py_type)
    return origin is typing.Union or origin is types.UnionType


def type_label(py_type: Any) -> str:
    """A short human label for a Python type: ``list[int]``, ``Optional[str]``, ``DataFrame``."""
    if py_type in _NONE_TYPES:
        return "None"
    if py_type is typing.Any:
        return "Any"
    if is_union(py_type):
        args = typing.get_args(py_type)
        rest = [a for a in args if a not in _NONE_TYPES]
        if len(rest) < len(args):
            inner = " | ".join(type_label(a) for a in rest)
            return f"Optional[{inner}]"
        return " | ".join(type_label(a) for a in args)
    origin = typing.get_origin(py_type)
    if origin is not None:
        args = typing.get_args(py_type)
        base = getattr(origin, "__name__", None) or repr(origin).replace("typing.", "")
        if not args:
            return str(base)
        return f"{base}[{', '.join(type_label(a) for a in args)}]"
    if isinstance(py_type, type):
        if py_type.__module__.startswith("pyarrow") and py_type.__name__ == "Table":
            return "pyarrow.Table"
        return py_type.__name__
    return repr(py_type).replace("typing.", "")
