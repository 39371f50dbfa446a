"""`>>` orders calls that share no data, for tasks, sub-workflows and launch plans.

Flyte's own local run ignores `>>` between tasks (it runs t2, t1, t0 for t0 >> t1 >> t2);
its semantics (and a Flyte cluster) run t0, then t1, then t2, as slipstream does everywhere.
"""

import os
import time

from slipstream import LaunchPlan, task, workflow

LOG = os.environ.get("ORDER_LOG", "order.log")


@task
def t(name: str, pause: float) -> None:
    time.sleep(pause)
    with open(LOG, "a") as f:
        f.write(name + "\n")


@workflow
def chain_wf() -> None:
    t0 = t(name="t0", pause=0.3)
    t1 = t(name="t1", pause=0.2)
    t2 = t(name="t2", pause=0.0)
    t0 >> t1 >> t2


@workflow
def sub_wf(name: str, pause: float = 0.0) -> None:
    t(name=name, pause=pause)


lp0 = LaunchPlan.get_or_create(sub_wf, name="lp0", fixed_inputs={"name": "lp0", "pause": 0.3})
lp1 = LaunchPlan.get_or_create(sub_wf, name="lp1", default_inputs={"name": "lp1"})


@workflow
def plans_wf() -> None:
    lp0() >> lp1()
    sub_wf0 = sub_wf(name="sub_wf0", pause=0.2)
    sub_wf1 = sub_wf(name="sub_wf1")
    sub_wf0 >> sub_wf1


def _order() -> list[str]:
    with open(LOG) as f:
        return f.read().split()


if __name__ == "__main__":
    open(LOG, "w").close()
    chain_wf()
    print(f"chain_wf: {_order()}")
    open(LOG, "w").close()
    plans_wf()
    order = _order()
    print(f"lp0 before lp1: {order.index('lp0') < order.index('lp1')}")
    print(f"sub_wf0 before sub_wf1: {order.index('sub_wf0') < order.index('sub_wf1')}")
    try:
        lp0(name="other")
    except TypeError as exc:
        print(f"lp0(name='other'): {exc}")
    lp1()
    print(f"lp1 ran with its default: {_order()[-1]}")
