"""Whether a Python value may be handed to a task as it is, or must be decoded from its literal.

The in-process runner keeps upstream values beside their literals to skip decoding; a value
whose type differs from the input's (a DataFrame for a StructuredDataset or a pyarrow Table,
an `Annotated` column subset) must be decoded so the task gets what it declared.
"""

from __future__ import annotations

import typing
from typing import Any


def hands_over(value: Any, py_type: Any) -> bool:
    """True when `value` is already what an input of `py_type` receives."""
    if typing.get_origin(py_type) is typing.Annotated:
        return False
    if isinstance(py_type, type) and py_type is not object:
        return isinstance(value, py_type)
    return True
