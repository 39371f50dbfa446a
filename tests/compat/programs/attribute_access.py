"""Reading fields of outputs inside a workflow (Flyte docs: "attribute access"), and conditions."""

from dataclasses import dataclass
from typing import Optional

from pydantic import BaseModel

from slipstream import conditional, task, workflow


@dataclass
class Fruit:
    name: str
    weight: float
    tags: list[str]


class Basket(BaseModel):
    owner: str
    counts: dict[str, int]


@task
def pick(name: str) -> Fruit:
    return Fruit(name=name, weight=1.5, tags=["fresh", "red"])


@task
def basket() -> Basket:
    return Basket(owner="ada", counts={"apple": 3})


@task
def list_task() -> list[str]:
    return ["a", "b", "c"]


@task
def dict_task() -> dict[str, str]:
    return {"a": "b"}


@task
def print_message(message: str) -> str:
    return message.upper()


@task
def is_heavy(weight: float) -> bool:
    return weight > 1.0


@task
def maybe_label(name: str) -> Optional[str]:  # noqa: UP045 - Flyte's spelling
    return None if name == "plain" else f"label-{name}"


@workflow
def attribute_wf(name: str = "apple") -> str:
    fruit = pick(name=name)
    b = basket()
    print_message(message=fruit.name)
    print_message(message=fruit.tags[1])
    print_message(message=list_task()[0])
    print_message(message=dict_task()["a"])
    return print_message(message=b.owner)


@workflow
def count_wf() -> int:
    b = basket()
    return b.counts["apple"]


@workflow
def condition_wf(name: str) -> str:
    fruit = pick(name=name)
    heavy = is_heavy(weight=fruit.weight)
    label = maybe_label(name=name)
    return (
        conditional("label")
        .if_(label.is_none())
        .then(print_message(message="no label"))
        .elif_(heavy.is_true())
        .then(print_message(message="heavy and labelled"))
        .else_()
        .then(print_message(message="light"))
    )


@workflow
def weight_wf(name: str) -> str:
    fruit = pick(name=name)
    heavy = is_heavy(weight=fruit.weight)
    return (
        conditional("weight")
        .if_(fruit.weight > 2.0)
        .then(print_message(message="over two"))
        .elif_(heavy.is_false())
        .then(print_message(message="light"))
        .else_()
        .then(print_message(message="between one and two"))
    )


if __name__ == "__main__":
    print(f"attribute_wf: {attribute_wf()}")
    print(f"count_wf: {count_wf()}")
    print(f"condition_wf: {condition_wf(name='plain')}")
    print(f"condition_wf: {condition_wf(name='apple')}")
    print(f"weight_wf: {weight_wf(name='apple')}")
