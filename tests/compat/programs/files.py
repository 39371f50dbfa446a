"""File and Directory (Flyte's FlyteFile / FlyteDirectory): paths in, paths out."""

import os
import tempfile

from slipstream import Directory, File, task, workflow


@task
def write_report(text: str) -> File:
    path = os.path.join(tempfile.mkdtemp(), "report.txt")
    with open(path, "w") as f:
        f.write(text)
    return File(path=path)


@task
def read_report(report: File) -> str:
    with open(report) as f:
        return f"{os.path.basename(str(report))}: {f.read()}"


@task
def make_folder(count: int) -> Directory:
    folder = tempfile.mkdtemp()
    for i in range(count):
        with open(os.path.join(folder, f"part-{i}.txt"), "w") as f:
            f.write(str(i))
    return Directory(path="file://" + folder)


@task
def list_folder(folder: Directory) -> list[str]:
    return sorted(os.listdir(folder.download()))


@workflow
def report_wf(text: str = "all good") -> str:
    return read_report(report=write_report(text=text))


@workflow
def folder_wf(count: int = 3) -> list[str]:
    return list_folder(folder=make_folder(count=count))


if __name__ == "__main__":
    print(f"report_wf: {report_wf()}")
    print(f"folder_wf: {folder_wf()}")
    report = write_report(text="x")
    print(f"a File prints as its path: {str(report) == report.path and os.path.isabs(report)}")
    print(f"and is os.PathLike: {isinstance(report, os.PathLike)}")
