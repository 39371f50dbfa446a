"""The UI's pinned front-end files: exactly the builds package-lock.json names, with licences."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENDOR = ROOT / "slipstream" / "server" / "ui" / "static" / "vendor"
LOCK = ROOT / "frontend" / "package-lock.json"


def test_vendored_files_are_the_locked_versions_with_their_licences() -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    locked = json.loads(LOCK.read_text())["packages"]
    package = json.loads((ROOT / "frontend" / "package.json").read_text())
    for name in package["dependencies"]:
        assert name in manifest, f"{name} is a dependency but was not vendored"
    for name, entry in manifest.items():
        assert locked[f"node_modules/{name}"]["version"] == entry["version"], name
        assert any(f.endswith("LICENSE.txt") for f in entry["files"]), f"{name} ships no licence"
        for file, digest in entry["files"].items():
            data = (VENDOR / file).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, f"{file} differs from its build"


def test_templates_load_assets_only_from_the_package() -> None:
    templates = ROOT / "slipstream" / "server" / "ui" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text()
        for marker in ("http://", "https://", "//cdn", "fonts.googleapis"):
            assert marker not in text, f"{template.name} refers to {marker}"
