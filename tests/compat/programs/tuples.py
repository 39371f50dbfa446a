"""Tasks that return several values (Flyte docs: "multiple outputs"), ported by the imports."""

import typing
from typing import NamedTuple

from slipstream import dynamic, task, workflow


@task
def t1(a: int) -> typing.Tuple[int, str]:  # noqa: UP006 - as Flyte's docs write it
    return a + 2, "world"


@task
def t2(a: str, b: str) -> str:
    return b + a


@task
def t3(a: int) -> (int, str):  # type: ignore[syntax]  # Flyte accepts a bare tuple
    return a * 2, f"item-{a}"


@task
def t4(a: int) -> tuple[int, str]:
    return a * 3, f"triple-{a}"


class slope_value(NamedTuple):
    slope: float


@task
def slope(x: list[int], y: list[int]) -> slope_value:
    sum_xy = sum([x[i] * y[i] for i in range(len(x))])
    sum_x_squared = sum([x[i] ** 2 for i in range(len(x))])
    n = len(x)
    return (n * sum_xy - sum(x) * sum(y)) / (n * sum_x_squared - sum(x) ** 2)


@workflow
def my_wf(a: int, b: str) -> typing.Tuple[int, str]:  # noqa: UP006
    x, y = t1(a=a)
    d = t2(a=y, b=b)
    return x, d


@dynamic
def fan_out(n: int) -> list[str]:
    texts = []
    for i in range(n):
        _, text = t3(a=i)
        texts.append(text)
    return texts


@workflow
def slope_wf(x: list[int], y: list[int]) -> float:
    return slope(x=x, y=y).slope


@workflow
def triple_wf(a: int) -> tuple[int, str]:
    result = t4(a=a)
    return result.o0, result[1]


if __name__ == "__main__":
    x, d = my_wf(a=50, b="hello ")
    print(f"my_wf: {x} {d!r}")
    print(f"fan_out: {fan_out(n=3)}")
    print(f"slope_wf: {slope_wf(x=[-3, 0, 3], y=[7, 4, -2])}")
    print(f"slope: {slope(x=[-3, 0, 3], y=[7, 4, -2])}")
    number, text = t3(a=5)
    print(f"t3: {number} {text}")
    print(f"triple_wf: {tuple(triple_wf(a=2))}")
