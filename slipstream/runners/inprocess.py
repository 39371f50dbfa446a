"""The in-process runner: attempts run on a thread pool in the engine's own process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slipstream.compiler.handoff import hands_over
from slipstream.compiler.registry import TransformContext
from slipstream.ir import TaskTemplate
from slipstream.runners.attempt import (
    call_task,
    decode_inputs,
    encode_values,
    error_document,
    remove_scratch,
)
from slipstream.runners.base import (
    AttemptHandle,
    AttemptResult,
    AttemptSpec,
    Runner,
    RunnerCapabilities,
    RunnerEvents,
)
from slipstream.sdk.dynamic import DynamicWorkflow
from slipstream.sdk.plugins import AttemptContext
from slipstream.types import AttemptPhase

TaskResolver = Callable[[TaskTemplate, str], Any]


class InProcessRunner(Runner):
    """Fast and shares memory with the engine; cannot stop an attempt (timeouts run elsewhere)."""

    name = "inprocess"
    capabilities = RunnerCapabilities(in_process=True, stoppable=False, adoptable=False)

    def __init__(
        self,
        blobs: Any,
        resolve: TaskResolver,
        *,
        max_workers: int = 32,
        offload_threshold: int = 1 << 20,
    ) -> None:
        self.blobs = blobs
        self.resolve = resolve
        self.offload_threshold = offload_threshold
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="slipstream-task"
        )
        self._cancelled: set[tuple[str, str, int]] = set()
        self._lock = threading.Lock()

    def launch(self, spec: AttemptSpec, events: RunnerEvents) -> AttemptHandle:
        self._pool.submit(self._run, spec, events)
        key = [spec.execution_id, spec.node_id, spec.attempt]
        return AttemptHandle(runner=self.name, ref={"key": key})

    def _run(self, spec: AttemptSpec, events: RunnerEvents) -> None:
        result = self.run_now(spec, events)
        with self._lock:
            if (spec.execution_id, spec.node_id, spec.attempt) in self._cancelled:
                return
        events.attempt_done(spec, result)

    def run_now(self, spec: AttemptSpec, events: RunnerEvents | None = None) -> AttemptResult:
        """Run the attempt on the calling thread (the result says how long it ran)."""
        started = time.perf_counter()
        result = self._attempt(spec, events)
        result.seconds = time.perf_counter() - started
        return result

    def _attempt(self, spec: AttemptSpec, events: RunnerEvents | None) -> AttemptResult:
        ctx = TransformContext(blobs=self.blobs, offload_threshold=self.offload_threshold)
        attempt = AttemptContext(
            execution_id=spec.execution_id,
            node_id=spec.node_id,
            attempt=spec.attempt,
            output_prefix=spec.output_prefix,
            log_dir="",
        )
        try:
            task = self.resolve(spec.task, spec.source_root)
            values = spec.input_values
            if values is not None and not all(
                hands_over(value, task.interface.inputs.get(name, Any))
                for name, value in values.items()
            ):
                values = None  # some input needs decoding into the type the task declares
            if values is None:
                values = decode_inputs(
                    spec.task, task.interface.inputs, spec.inputs, task.registry, ctx
                )
            report = (lambda info: events.attempt_info(spec, info)) if events else None
            outputs = call_task(task, values, attempt, report=report, transform=ctx)
            if isinstance(outputs, DynamicWorkflow):
                return AttemptResult(
                    AttemptPhase.SUCCEEDED, workflow=outputs.template, entities=outputs.entities
                )
            literals = encode_values(
                f"task {spec.task.name!r}: output",
                task.interface.outputs,
                outputs,
                task.registry,
                ctx,
            )
        except Exception as exc:
            return AttemptResult(AttemptPhase.FAILED, error=error_document(exc), exception=exc)
        finally:
            remove_scratch(attempt)
        return AttemptResult(AttemptPhase.SUCCEEDED, outputs=literals, output_values=outputs)

    def cancel(self, handle: AttemptHandle) -> None:
        key = handle.ref.get("key")
        if key:
            with self._lock:
                self._cancelled.add((str(key[0]), str(key[1]), int(key[2])))

    def adopt(self, handle: AttemptHandle, spec: AttemptSpec, events: RunnerEvents) -> bool:
        return False  # its thread died with the engine that ran it

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
