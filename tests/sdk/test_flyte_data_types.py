"""StructuredDataset, kwtypes column subsets, File/Directory as Flyte has them, structs of them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow as pa
import pydantic
import pytest

from slipstream import Directory, File, StructuredDataset, kwtypes, task, workflow
from slipstream.compiler.handoff import hands_over

COLUMNS = kwtypes(a=int, b=str)


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})


@task
def make_dataset() -> StructuredDataset:
    return StructuredDataset(dataframe=_frame())


@task
def make_frame() -> pd.DataFrame:
    return _frame()


@task
def dataset_columns(sd: Annotated[StructuredDataset, COLUMNS]) -> list[str]:
    return list(sd.open(pd.DataFrame).all().columns)


@task
def frame_columns(df: Annotated[pd.DataFrame, COLUMNS]) -> list[str]:
    return list(df.columns)


@task
def arrow_width(sd: StructuredDataset) -> int:
    return int(sd.open(pa.Table).all().num_columns)


@task
def forward(sd: StructuredDataset) -> StructuredDataset:
    return sd


def test_datasets_open_as_frames_and_subsets_select_columns(home: Path) -> None:
    @workflow
    def wf() -> tuple[list[str], list[str], int, list[str], list[str]]:
        sd = make_dataset()
        return (
            dataset_columns(sd=sd),
            frame_columns(df=make_frame()),
            arrow_width(sd=make_frame()),
            dataset_columns(sd=forward(sd=sd)),
            frame_columns(df=sd),
        )

    assert tuple(wf()) == (["a", "b"], ["a", "b"], 3, ["a", "b"], ["a", "b"])
    variable = dataset_columns.interface.ir.inputs[0]
    assert variable.type.kind == "dataframe" and '"a": "int"' in variable.type.schema


def test_a_dataset_called_directly_and_its_errors(home: Path) -> None:
    assert dataset_columns(sd=StructuredDataset(dataframe=_frame())) == ["a", "b"]
    with pytest.raises(ValueError, match=r"call open\(pd.DataFrame\)"):
        StructuredDataset(dataframe=_frame()).all()
    with pytest.raises(TypeError, match="takes a pandas DataFrame or a pyarrow Table, got list"):
        StructuredDataset(dataframe=[1, 2])

    @task
    def wants_z(df: Annotated[pd.DataFrame, kwtypes(z=int)]) -> int:
        return len(df)

    with pytest.raises(Exception, match=r"no column\(s\) 'z'; it has: a, b, c"):
        wants_z(df=_frame())


@dataclass
class Bundle:
    report: File
    folder: Directory
    table: StructuredDataset
    count: int


class Settings(pydantic.BaseModel):
    report: File
    folder: Directory
    count: int


def _folder(tmp: Path, text: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "report.txt").write_text(text)
    return tmp


def test_structs_holding_files_directories_and_datasets_round_trip(
    home: Path, tmp_path: Path
) -> None:
    source = _folder(tmp_path / "src", "hello")

    @task
    def make() -> Bundle:
        return Bundle(
            report=File(source / "report.txt"),
            folder=Directory(source),
            table=StructuredDataset(dataframe=_frame()),
            count=2,
        )

    @task
    def read(b: Bundle) -> str:
        frame = b.table.open(pd.DataFrame).all()
        return f"{Path(b.report).read_text()} {os.listdir(b.folder)} {len(frame)} {b.count}"

    @task
    def make_model() -> Settings:
        return Settings(report=File(source / "report.txt"), folder=Directory(source), count=5)

    @task
    def read_model(s: Settings) -> str:
        return f"{Path(s.report).read_text()} {os.listdir(s.folder)} {s.count}"

    @workflow
    def wf() -> tuple[str, str]:
        return read(b=make()), read_model(s=make_model())

    assert tuple(wf()) == ("hello ['report.txt'] 2 2", "hello ['report.txt'] 5")
    assert Settings(report="a.txt", folder=".", count=1).report == File("a.txt")  # type: ignore[arg-type]


def test_file_prints_as_its_path_and_urls_name_local_paths(home: Path, tmp_path: Path) -> None:
    path = _folder(tmp_path / "d", "x") / "report.txt"
    file = File(path)
    assert str(file) == repr(file) == f"{file}" == str(path)
    assert isinstance(file, os.PathLike) and file.download() == str(path)
    assert File(f"file://{path}").path == str(path)
    assert Directory(f"file://{path.parent}").path == str(path.parent)
    with pytest.raises(TypeError, match="another host"):
        File("file://elsewhere/x")

    @task
    def count(d: Directory) -> int:
        return len(Directory.listdir(d))

    @task
    def make(url: str) -> Directory:
        return Directory(url)

    @workflow
    def wf(url: str) -> int:
        return count(d=make(url=url))

    assert wf(url=f"file://{path.parent}") == 1


def test_in_process_hand_off_decodes_when_types_differ() -> None:
    frame = _frame()
    assert hands_over(frame, pd.DataFrame)
    assert not hands_over(frame, StructuredDataset)
    assert not hands_over(frame, pa.Table)
    assert not hands_over(frame, Annotated[pd.DataFrame, COLUMNS])
    assert hands_over([1], list[int])
