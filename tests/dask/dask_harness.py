"""A Dask attempt in a process of its own, as slipstream.execute runs it; driven by test_process.py.

Usage: python harness.py CONFIG_JSON LOG_DIR MODE
MODE "workers": print what plain Client() sees, then leave. MODE "wait": print the worker PIDs,
then sleep inside the cluster until a signal arrives; SIGTERM becomes an exception (exit 143)
the way slipstream.execute turns it into one.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(143)


def main() -> None:
    from distributed import Client

    from slipstream.dask.local import local_context
    from slipstream.ir import TaskTemplate, TypedInterface
    from slipstream.sdk.plugins import AttemptContext

    config, log_dir, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    signal.signal(signal.SIGTERM, _terminated)
    template = TaskTemplate(
        name="harness",
        function="harness:main",
        interface=TypedInterface(),
        task_type="dask",
        config=config,
    )
    reports: list[dict] = []
    attempt = AttemptContext(
        execution_id="e",
        node_id="n",
        attempt=1,
        output_prefix="file:///unused",
        log_dir=log_dir,
        report=reports.append,
    )
    with local_context(template, attempt):
        client = Client()
        info = client.scheduler_info()
        print(
            json.dumps(
                {
                    "scheduler": client.scheduler.address,
                    "reported": reports[0]["scheduler"],
                    "workers": sorted(info["workers"]),
                    "worker_names": sorted(w["name"] for w in info["workers"].values()),
                    "pids": sorted(client.run(os.getpid).values()),
                }
            ),
            flush=True,
        )
        if mode == "wait":
            while True:
                time.sleep(0.1)


if __name__ == "__main__":
    main()
