"""File and Directory: uploaded content-addressed, received as local copies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.files import Directory, File
from slipstream.errors import TypeTransformError
from slipstream.ir import LiteralType


def test_file_object(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("hello")
    file = File(path)
    assert file.path == str(path)
    assert os.fspath(file) == str(path)
    assert file.name == "a.txt"
    with file.open() as f:
        assert f.read() == b"hello"
    with file.open("r") as f:
        assert f.read() == "hello"
    assert file == File(str(path))
    with pytest.raises(TypeError, match="takes a local path, got int 3"):
        File(3)  # type: ignore[arg-type]


def test_literal_types(registry: TypeRegistry) -> None:
    assert registry.literal_type(File) == LiteralType("file")
    assert registry.literal_type(Directory) == LiteralType("directory")


def test_file_roundtrip_is_a_local_copy(
    registry: TypeRegistry, ctx: TransformContext, tmp_path: Path, roundtrip: Any
) -> None:
    source = tmp_path / "out.csv"
    source.write_text("a,b\n1,2\n")
    literal = registry.to_literal(File(source), File, ctx)
    assert literal.format == "file"
    assert literal.value == "out.csv"
    back = roundtrip(File(source), File)
    assert isinstance(back, File)
    assert back.path != str(source)
    assert os.path.basename(back.path) == "out.csv"
    assert Path(back.path).read_text() == "a,b\n1,2\n"


def test_same_content_same_literal_hash(
    registry: TypeRegistry, ctx: TransformContext, tmp_path: Path
) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "f.bin").write_bytes(b"\x00\x01")
    (tmp_path / "y" / "f.bin").write_bytes(b"\x00\x01")
    first = registry.to_literal(File(tmp_path / "x" / "f.bin"), File, ctx)
    second = registry.to_literal(File(tmp_path / "y" / "f.bin"), File, ctx)
    assert first == second


def test_relative_path_and_plain_str(
    registry: TypeRegistry, ctx: TransformContext, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("rel.txt").write_text("r")
    back = registry.to_python(registry.to_literal("rel.txt", File, ctx), File, ctx)
    assert Path(back.path).read_text() == "r"


def test_directory_roundtrip(roundtrip: Any, tmp_path: Path) -> None:
    tree = tmp_path / "model"
    (tree / "sub").mkdir(parents=True)
    (tree / "weights.bin").write_bytes(b"w" * 100)
    (tree / "sub" / "config.json").write_text("{}")
    back = roundtrip(Directory(tree), Directory)
    assert isinstance(back, Directory)
    assert os.path.basename(back.path) == "model"
    assert back.path != str(tree)
    names = [os.path.relpath(f.path, back.path) for f in back.files()]
    assert names == [os.path.join("sub", "config.json"), "weights.bin"]
    assert (back / "weights.bin").read_bytes() == b"w" * 100
    assert [f.name for f in back] == ["config.json", "weights.bin"]


def test_list_of_files(roundtrip: Any, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        path = tmp_path / f"part-{i}.txt"
        path.write_text(str(i))
        files.append(File(path))
    back = roundtrip(files, list[File])
    assert [Path(f.path).read_text() for f in back] == ["0", "1", "2"]
    assert [f.name for f in back] == ["part-0.txt", "part-1.txt", "part-2.txt"]


def test_missing_file_is_named(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"File 'nope\.csv' does not exist as a file"):
        registry.to_literal(File("nope.csv"), File, ctx)


def test_file_is_not_a_directory(
    registry: TypeRegistry, ctx: TransformContext, tmp_path: Path
) -> None:
    with pytest.raises(TypeTransformError, match="does not exist as a directory"):
        registry.to_literal(Directory(tmp_path / "missing"), Directory, ctx)
    (tmp_path / "f").write_text("x")
    with pytest.raises(TypeTransformError, match="does not exist as a directory"):
        registry.to_literal(Directory(tmp_path / "f"), Directory, ctx)


def test_remote_paths_and_wrong_values(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(
        TypeTransformError, match="takes a local path or a file:// URL, got 's3://b/k'"
    ):
        registry.to_literal(File("s3://b/k"), File, ctx)
    with pytest.raises(TypeTransformError, match=r"^expected File, got int 5$"):
        registry.to_literal(5, File, ctx)
    with pytest.raises(TypeTransformError, match="expected File, got Directory"):
        registry.to_literal(Directory("."), File, ctx)


def test_stored_name_cannot_leave_the_scratch_folder(
    registry: TypeRegistry, ctx: TransformContext, tmp_path: Path
) -> None:
    import msgspec

    source = tmp_path / "a.txt"
    source.write_text("a")
    literal = registry.to_literal(File(source), File, ctx)
    forged = msgspec.structs.replace(literal, value="../../escape.txt")
    back = registry.to_python(forged, File, ctx)
    assert os.path.basename(back.path) == "escape.txt"
    assert ".." not in Path(back.path).parts
    assert os.path.realpath(back.path).startswith(os.path.realpath(tmp_path))
    assert Path(back.path).read_text() == "a"
