"""Dataclasses and pydantic models holding files, directories and datasets (Flyte docs)."""

import os
import tempfile
from dataclasses import dataclass

import pandas as pd
from pydantic import BaseModel

from slipstream import Directory, File, StructuredDataset, task, workflow


@dataclass
class Datum:
    label: str
    file: File
    folder: Directory
    table: StructuredDataset


class Settings(BaseModel):
    name: str
    config: File
    extra: Directory


def _temp_file(text: str) -> str:
    path = os.path.join(tempfile.mkdtemp(), "data.txt")
    with open(path, "w") as f:
        f.write(text)
    return path


@task
def make_datum() -> Datum:
    folder = tempfile.mkdtemp()
    for name in ("a.csv", "b.csv"):
        open(os.path.join(folder, name), "w").close()
    frame = pd.DataFrame({"x": [1, 2, 3]})
    return Datum(
        label="first",
        file=File(_temp_file("file contents")),
        folder=Directory(folder),
        table=StructuredDataset(dataframe=frame),
    )


@task
def describe_datum(d: Datum) -> str:
    with open(d.file) as f:
        text = f.read()
    rows = len(d.table.open(pd.DataFrame).all())
    return f"{d.label}: {text!r}, {sorted(os.listdir(d.folder))}, {rows} rows"


@task
def make_settings() -> Settings:
    folder = tempfile.mkdtemp()
    open(os.path.join(folder, "x.json"), "w").close()
    return Settings(name="model", config=File(_temp_file("lr=0.1")), extra=Directory(folder))


@task
def describe_settings(s: Settings) -> str:
    with open(s.config) as f:
        return f"{s.name}: {f.read()!r}, {os.listdir(s.extra)}"


@workflow
def datum_wf() -> str:
    return describe_datum(d=make_datum())


@workflow
def settings_wf() -> str:
    return describe_settings(s=make_settings())


if __name__ == "__main__":
    print(f"datum_wf: {datum_wf()}")
    print(f"settings_wf: {settings_wf()}")
