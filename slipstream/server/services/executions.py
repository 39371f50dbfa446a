"""Launching and reading executions; used by the API routers and the web UI.

Public methods: launch, relaunch, recover, abort, list_executions, counts, get, node_data,
open_value, logs, events. Every document is plain JSON.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgspec

from slipstream.compiler.dag import node_interface
from slipstream.engine.ids import new_execution_id
from slipstream.ir import LiteralMapDocument, TypedInterface, WorkflowTemplate, decode
from slipstream.server.inputs import InputError, encode_inputs
from slipstream.server.references import References
from slipstream.server.services.catalog import (
    CatalogService,
    NotFoundError,
)
from slipstream.server.services.documents import (
    attempt_document,
    decode_cursor,
    encode_cursor,
    event_document,
    execution_document,
    node_document,
    summary_document,
)
from slipstream.server.services.plans import plan_inputs
from slipstream.server.services.requests import ActionError, LaunchRequest, check_labels
from slipstream.server.services.runtime import Runtime
from slipstream.storage.metadata.server_records import (
    CatalogEntry,
    ExecutionFilter,
    ExecutionInfo,
)
from slipstream.storage.metadata.server_store import ServerStore
from slipstream.storage.records import AttemptRecord, ExecutionRecord, NodeRecord
from slipstream.types import AttemptPhase, ExecutionPhase, NodePhase

MAX_LIMIT = 500
CHUNK = 1 << 16


def _find_interface(template: WorkflowTemplate, node_id: str, target: str) -> TypedInterface | None:
    """The interface of the node's task or workflow, wherever it is nested."""
    if "/" not in node_id:
        for node in template.nodes:
            if node.id == node_id:
                try:
                    return node_interface(template, node)
                except Exception:  # a plugin kind without a compile-time interface
                    return None
    pending = [template]
    while pending:
        current = pending.pop()
        if target in current.tasks:
            return current.tasks[target].interface
        if target in current.workflows:
            return current.workflows[target].interface
        pending.extend(current.workflows.values())
    return None


class ExecutionService:
    """The executions the server launched (and any other in the same store)."""

    def __init__(self, runtime: Runtime, store: ServerStore, catalog: CatalogService) -> None:
        self.runtime = runtime
        self.store = store
        self.catalog = catalog
        settings = runtime.engine.settings
        self.references = References(
            runtime.blobs, settings.allowed_input_prefixes, settings.max_upload_bytes
        )

    @property
    def engine_store(self) -> Any:
        return self.runtime.store

    # -- launching -----------------------------------------------------------------------------
    def launch(self, request: LaunchRequest, launched_by: str) -> str:
        """Validate the inputs against the interface, record and start; the new id."""
        chosen = [
            (kind, name)
            for kind, name in (
                ("workflow", request.workflow),
                ("task", request.task),
                ("launch_plan", request.launch_plan),
            )
            if name
        ]
        if len(chosen) != 1:
            raise InputError("", "name exactly one of workflow, task or launch_plan")
        kind, name = chosen[0]
        entry = self.catalog.get_entry(request.project, request.domain, kind, name, request.version)
        return self.launch_entry(entry, request.inputs, request.labels, launched_by)

    def launch_entry(
        self,
        entry: CatalogEntry,
        inputs: dict[str, Any],
        labels: dict[str, str],
        launched_by: str,
        *,
        relation: str = "",
        execution_id: str | None = None,
    ) -> str:
        """Launch a registered task, workflow or launch plan with JSON inputs; the new id."""
        info, template, literals = self.prepared(
            entry, inputs, labels, launched_by, relation, execution_id or new_execution_id()
        )
        return self._start(info, template, literals, entry.bundle_uri)

    def prepared(
        self,
        entry: CatalogEntry,
        inputs: dict[str, Any],
        labels: dict[str, str],
        launched_by: str,
        relation: str,
        execution_id: str,
    ) -> tuple[ExecutionInfo, Any, Any]:
        """What a launch stores: (its index row, the template, the inputs as literals)."""
        labels = check_labels(labels)
        info = ExecutionInfo(
            execution_id=execution_id,
            project=entry.project,
            domain=entry.domain,
            entity_kind=entry.kind,
            entity_name=entry.name,
            version=entry.version,
            launched_by=launched_by,
            relation=relation,
            labels=labels,
            created_at=time.time(),
        )
        template: Any
        if entry.kind == "launch_plan":
            plan, template = self.catalog.plan_of(entry)
            literals = plan_inputs(plan, template, inputs, self.references)
            info = msgspec.structs.replace(
                info,
                entity_kind="workflow",
                entity_name=plan.workflow,
                launch_plan=plan.name,
                labels={**plan.labels, **labels},
            )
        else:
            template = self.catalog.workflow_of(entry)
            literals = encode_inputs(template.interface, inputs, self.references)
        return info, template, literals

    def _start(self, info: ExecutionInfo, template: Any, inputs: Any, bundle_uri: str) -> str:
        self.store.add_execution(info)
        self.runtime.start(
            info.execution_id,
            template,
            inputs,
            source_root=self.catalog.source_root(bundle_uri),
            options={"bundle_uri": bundle_uri} if bundle_uri else {},
        )
        return info.execution_id

    def _record(self, execution_id: str) -> ExecutionRecord:
        record = self.engine_store.get_execution(execution_id)
        if record is None:
            raise NotFoundError(f"no execution {execution_id!r}")
        return record

    def relaunch(
        self,
        execution_id: str,
        launched_by: str,
        inputs: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
    ) -> str:
        """A new execution of the same entity version with the same inputs, some overridden."""
        record = self._record(execution_id)
        parent = self.store.get_info(execution_id)
        workflow = decode(record.template, WorkflowTemplate)
        given = dict(decode(record.inputs, LiteralMapDocument).literals)
        given.update(encode_inputs(workflow.interface, inputs, self.references) if inputs else {})
        info = self._child_info(record, parent, launched_by, "relaunch", labels)
        template: Any = workflow
        if parent is not None and parent.entity_kind == "task":
            entry = self.catalog.get_entry(
                parent.project, parent.domain, "task", parent.entity_name, parent.version
            )
            template = self.catalog.workflow_of(entry)
        return self._start(info, template, given, str(record.options.get("bundle_uri", "")))

    def _child_info(
        self,
        record: ExecutionRecord,
        parent: ExecutionInfo | None,
        launched_by: str,
        relation: str,
        labels: dict[str, str] | None,
    ) -> ExecutionInfo:
        base = parent or ExecutionInfo(
            execution_id="", entity_kind=record.kind, entity_name=record.name
        )
        return msgspec.structs.replace(
            base,
            execution_id=new_execution_id(),
            launched_by=launched_by,
            parent_id=record.id,
            relation=relation,
            labels=check_labels(labels) if labels is not None else dict(base.labels),
            created_at=time.time(),
        )

    def recover(self, execution_id: str, launched_by: str) -> str:
        """A new execution of a failed one, reusing every succeeded node's outputs."""
        record = self._record(execution_id)
        if record.phase not in (ExecutionPhase.FAILED.value, ExecutionPhase.ABORTED.value):
            raise ActionError(
                f"execution {execution_id!r} is {record.phase}; only a FAILED or ABORTED "
                "execution can be recovered"
            )
        info = self._child_info(
            record, self.store.get_info(execution_id), launched_by, "recover", None
        )
        by_id = {n.node_id: n for n in self.engine_store.get_nodes(execution_id)}

        def reusable(node: NodeRecord) -> bool:
            while True:
                if node.phase != NodePhase.SUCCEEDED.value:
                    return False
                if not node.parent_id:
                    return True
                parent = by_id.get(node.parent_id)
                if parent is None:
                    return False
                node = parent

        kept = [
            msgspec.structs.replace(
                n,
                execution_id=info.execution_id,
                info={**n.info, "recovered_from": execution_id},
            )
            for n in by_id.values()
            if reusable(n)
        ]
        now = time.time()
        options = dict(record.options)
        bundle_uri = str(options.get("bundle_uri", ""))
        if bundle_uri:
            options["source_root"] = self.catalog.source_root(bundle_uri)
        new = ExecutionRecord(
            id=info.execution_id,
            name=record.name,
            kind=record.kind,
            phase=ExecutionPhase.RUNNING.value,
            template=record.template,
            inputs=record.inputs,
            options=options,
            created_at=now,
            started_at=now,
        )
        self.store.add_execution(info)
        self.runtime.start_from_records(new, kept)
        return info.execution_id

    def abort(self, execution_id: str) -> str:
        """Abort it; the phase it is in after a few seconds (RUNNING while it stops)."""
        record = self._record(execution_id)
        if ExecutionPhase(record.phase).terminal:
            return record.phase
        return self.runtime.abort(execution_id).value

    # -- reading -------------------------------------------------------------------------------
    def list_executions(
        self, where: ExecutionFilter, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of executions, newest first, and the cursor of the next page (or None)."""
        limit = max(1, min(int(limit), MAX_LIMIT))
        before = decode_cursor(cursor) if cursor else None
        rows = self.store.list_executions(where, limit + 1, before)
        page, more = rows[:limit], len(rows) > limit
        last = page[-1] if page else None
        return {
            "executions": [summary_document(r) for r in page],
            "next_cursor": encode_cursor(last.created_at, last.id) if more and last else None,
        }

    def counts(self, where: ExecutionFilter) -> dict[str, int]:
        return self.store.phase_counts(where)

    def get(self, execution_id: str) -> dict[str, Any]:
        """The execution with every node (nested ones, map summaries) and their attempts."""
        record = self._record(execution_id)
        workflow = decode(record.template, WorkflowTemplate)
        doc = execution_document(record, self.store.get_info(execution_id), workflow.interface)
        attempts: dict[str, list[AttemptRecord]] = {}
        for attempt in self.store.node_attempts(execution_id):
            attempts.setdefault(attempt.node_id, []).append(attempt)
        doc["nodes"] = [
            node_document(n, attempts.get(n.node_id, []))
            for n in self.engine_store.get_nodes(execution_id)
        ]
        return doc

    def _node(self, execution_id: str, node_id: str) -> tuple[ExecutionRecord, NodeRecord]:
        record = self._record(execution_id)
        node = self.engine_store.get_node(execution_id, node_id)
        if node is None:
            raise NotFoundError(f"execution {execution_id!r} has no node {node_id!r}")
        return record, node

    def _node_values(self, execution_id: str, node_id: str) -> tuple[Any, Any, Any]:
        record, node = self._node(execution_id, node_id)
        attempts = self.engine_store.get_attempts(execution_id, node_id)
        inputs = None
        if attempts:
            uri = f"{attempts[-1].output_prefix}/inputs.json"
            if self.runtime.blobs.exists(uri):
                inputs = self.runtime.blobs.read_document(uri, LiteralMapDocument).literals
        outputs = decode(node.outputs, LiteralMapDocument).literals if node.outputs else None
        workflow = decode(record.template, WorkflowTemplate)
        return inputs, outputs, _find_interface(workflow, node_id, node.target)

    def node_data(self, execution_id: str, node_id: str) -> dict[str, Any]:
        """A node's inputs and outputs; offloaded values carry an `href` that streams them."""
        from slipstream.compiler.values import literal_to_display
        from slipstream.ir import LiteralType

        inputs, outputs, interface = self._node_values(execution_id, node_id)
        base = f"/api/v1/executions/{execution_id}/nodes/{node_id}/data"

        def show(literals: Any, side: str) -> dict[str, Any] | None:
            if literals is None:
                return None
            variables = {}
            if interface is not None:
                chosen = interface.inputs if side == "inputs" else interface.outputs
                variables = {v.name: v.type for v in chosen}
            out: dict[str, Any] = {}
            for name, literal in literals.items():
                literal_type = variables.get(name)
                value = literal_to_display(literal, literal_type or LiteralType("any"))
                entry: dict[str, Any] = {
                    "type": str(literal_type) if literal_type else "",
                    "value": value,
                }
                if literal.uri and literal.format != "directory":
                    entry["href"] = f"{base}/{side}/{name}"
                out[name] = entry
            return out

        return {"inputs": show(inputs, "inputs"), "outputs": show(outputs, "outputs")}

    def open_value(
        self, execution_id: str, node_id: str, side: str, name: str
    ) -> tuple[Iterator[bytes], str]:
        """Stream one offloaded value from the blob store: (chunks, format)."""
        inputs, outputs, _ = self._node_values(execution_id, node_id)
        literals = inputs if side == "inputs" else outputs if side == "outputs" else None
        literal = (literals or {}).get(name)
        if literal is None or not literal.uri or literal.format == "directory":
            raise NotFoundError(f"node {node_id!r} has no offloaded {side} value {name!r}")
        handle = self.runtime.blobs.open(literal.uri, "rb")

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return chunks(), literal.format

    def _attempt(self, execution_id: str, node_id: str, attempt: int | None) -> AttemptRecord:
        self._node(execution_id, node_id)
        attempts = self.engine_store.get_attempts(execution_id, node_id)
        if attempt is not None:
            attempts = [a for a in attempts if a.attempt == attempt]
        if not attempts:
            which = f"attempt {attempt}" if attempt is not None else "any attempt"
            raise NotFoundError(f"node {node_id!r} of {execution_id!r} has no {which}")
        return attempts[-1]

    def logs(self, execution_id: str, node_id: str, attempt: int | None = None) -> dict[str, Any]:
        """The log an attempt kept (the last attempt by default) and whether it still runs."""
        record = self._attempt(execution_id, node_id, attempt)
        return {
            **attempt_document(record),
            "running": record.phase == AttemptPhase.RUNNING.value,
            "text": self.runtime.engine.attempt_logs(record) or "",
        }

    def events(self, execution_id: str, after: int = 0) -> tuple[list[dict[str, Any]], bool]:
        """Events after `after` in write order, and whether the execution has ended."""
        record = self._record(execution_id)
        events = self.engine_store.get_events(execution_id, after_id=after)
        return [event_document(e) for e in events], ExecutionPhase(record.phase).terminal
