"""Failure handlers and failure policies (Flyte docs: "Failure node"), ported by the imports."""

import os
import typing

from slipstream import FailureInfo, WorkflowFailurePolicy, task, workflow

LOG = os.environ.get("ORDER_LOG", "failure.log")


def _note(text: str) -> None:
    with open(LOG, "a") as f:
        f.write(text + "\n")


@task
def create_cluster(name: str) -> str:
    _note(f"Creating cluster: {name}")
    return name


@task
def t1(a: int, b: str) -> None:
    _note(f"{a} {b}")
    raise ValueError("Fail!")


@task
def delete_cluster(name: str) -> None:
    _note(f"Deleting cluster {name}")


@task
def clean_up(name: str, err: typing.Optional[FailureInfo] = None) -> None:  # noqa: UP045
    _note(f"Deleting cluster {name} due to {err}")


@workflow(
    on_failure=clean_up,
    failure_policy=WorkflowFailurePolicy.FAIL_AFTER_EXECUTABLE_NODES_COMPLETE,
)
def wf1(name: str = "my_cluster") -> None:
    c = create_cluster(name=name)
    t = t1(a=1, b="2")
    d = delete_cluster(name=name)
    c >> t >> d


@task
def clean_up_sub(name: str) -> None:
    _note(f"Sub-workflow handler for {name}")


@workflow(on_failure=clean_up_sub)
def subwf(name: str = "my_sub_cluster") -> None:
    c = create_cluster(name=name)
    t = t1(a=1, b="2")
    c >> t


@workflow(on_failure=clean_up)
def wf2(name: str = "my_cluster") -> None:
    c = create_cluster(name=name)
    s = subwf(name="another_cluster")
    c >> s


def _run(wf: typing.Any) -> None:
    open(LOG, "w").close()
    try:
        wf()
    except ValueError as exc:
        print(f"{wf.__name__} failed: {exc}")
    with open(LOG) as f:
        print(f.read(), end="")


if __name__ == "__main__":
    _run(wf1)
    _run(wf2)
