"""The shape rules of the house that a linter does not check: no module in slipstream/ over 400
lines (the Alembic snapshot in storage/migrations/versions/ is generated and frozen)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "slipstream"
FROZEN = PACKAGE / "storage" / "migrations" / "versions"
MAX_LINES = 400


def test_no_module_in_slipstream_is_over_400_lines() -> None:
    modules = [path for path in PACKAGE.rglob("*.py") if FROZEN not in path.parents]
    assert len(modules) > 100  # the walk found the package
    sizes = {
        path.relative_to(PACKAGE.parent): len(path.read_text().splitlines()) for path in modules
    }
    over = sorted(f"{path} ({lines} lines)" for path, lines in sizes.items() if lines > MAX_LINES)
    assert not over, f"modules over {MAX_LINES} lines (split them by concept): {', '.join(over)}"
