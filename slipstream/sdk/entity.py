"""Where a user function lives: import reference, source root, source hash; for task/workflow."""

from __future__ import annotations

import hashlib
import inspect
import sys
from pathlib import Path
from typing import Any


def function_reference(fn: Any) -> tuple[str, str, str]:
    """("module:qualname", source_root, source_file) for importing fn in another process."""
    module_name = fn.__module__
    module = sys.modules.get(module_name)
    source_file = str(Path(getattr(module, "__file__", "") or "").resolve()) if module else ""
    if module_name == "__main__" and source_file:
        module_name = Path(source_file).stem
    root = source_root(module_name, source_file)
    return f"{module_name}:{fn.__qualname__}", root, source_file


def source_root(module_name: str, source_file: str) -> str:
    """The sys.path entry from which `module_name` imports as the file `source_file`."""
    if not source_file:
        return ""
    path = Path(source_file)
    path = path.parent if path.name == "__init__.py" else path.with_suffix("")
    for _ in module_name.split("."):
        path = path.parent
    return str(path)


def default_name(fn: Any) -> str:
    module = fn.__module__
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", "") or ""
        module = Path(main_file).stem or "__main__"
    qualname = fn.__qualname__.replace("<locals>.", "")
    return f"{module}.{qualname}"


def source_hash(fn: Any) -> str:
    """A hash of the function's source code: the cache version when none is given."""
    try:
        text = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        text = (code.co_code if code else repr(fn).encode()) + fn.__qualname__.encode()
    return hashlib.sha256(text).hexdigest()[:16]
