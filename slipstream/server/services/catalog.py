"""Registration and the catalog of tasks, workflows and launch plans; used by the API and the UI.

Public methods: register, list_entities, get_entity, bundle_exists, put_bundle, source_root.
Entities are keyed by (project, domain, kind, name, version); documents are plain JSON.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

import slipstream.compiler.kinds  # noqa: F401  (map, branch and dynamic node interfaces)
from slipstream.compiler.dag import check_workflow, dependencies
from slipstream.compiler.types.schema import json_schema
from slipstream.compiler.values import literal_to_display
from slipstream.errors import CompileError
from slipstream.ir import (
    LaunchPlanTemplate,
    TaskTemplate,
    TypedInterface,
    WorkflowTemplate,
    decode,
    dumps,
)
from slipstream.runners.bundle import MAX_BUNDLE_BYTES, unpack_bundle
from slipstream.server.services.plans import (
    PlanError,
    check_plan,
    decode_plan,
    plan_document,
    plan_interface,
)
from slipstream.storage.metadata.server_records import CatalogEntry
from slipstream.storage.metadata.server_store import ServerStore

KINDS = ("task", "workflow", "launch_plan")
DEFAULT_PROJECT = "default"
DEFAULT_DOMAIN = "development"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}")


class RegistrationError(ValueError):
    """A registration that cannot be stored (bad template, type error); nothing was stored."""


class NotFoundError(LookupError):
    """No such entity, version, bundle or execution."""


def check_name(value: str, what: str) -> str:
    """A project, domain, name or version: letters, digits and _.:- (no paths)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise RegistrationError(
            f"{what} {value!r} is not valid (expected up to 200 letters, digits or _ . : -, "
            "not starting with a punctuation mark)"
        )
    return value


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise RegistrationError(f"bundle digest {digest!r} is not a sha256 hex digest")
    return digest


def interface_document(interface: TypedInterface) -> dict[str, Any]:
    """Inputs and outputs with their types, a JSON Schema each, and defaults."""

    def variable(v: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": v.name,
            "type": str(v.type),
            "schema": json_schema(v.type),
            "required": not v.has_default,
        }
        if v.description:
            doc["description"] = v.description
        if v.has_default and v.default is not None:
            doc["default"] = literal_to_display(v.default, v.type)
        return doc

    return {
        "inputs": [variable(v) for v in interface.inputs],
        "outputs": [variable(v) for v in interface.outputs],
    }


def graph_document(template: WorkflowTemplate) -> dict[str, Any]:
    """Nodes and edges of a workflow's top level (sub-workflows listed by name)."""
    nodes = [{"id": n.id, "kind": n.kind, "target": n.target} for n in template.nodes]
    edges = [
        {"from": upstream, "to": n.id}
        for n in template.nodes
        for upstream in sorted(dependencies(n))
    ]
    return {"nodes": nodes, "edges": edges, "workflows": sorted(template.workflows)}


@dataclass
class Registration:
    project: str = DEFAULT_PROJECT
    domain: str = DEFAULT_DOMAIN
    version: str | None = None
    bundle: str = ""  # sha256 of the code bundle, uploaded first
    tasks: list[dict[str, Any]] = field(default_factory=list)  # TaskTemplate IR objects
    workflows: list[dict[str, Any]] = field(default_factory=list)  # WorkflowTemplate IR objects
    launch_plans: list[dict[str, Any]] = field(default_factory=list)  # LaunchPlanTemplate IR


class CatalogService:
    """What is registered, and registering more."""

    def __init__(self, store: ServerStore, blobs: Any, bundle_dir: Path) -> None:
        self.store = store
        self.blobs = blobs
        self.bundle_dir = bundle_dir

    # -- bundles -------------------------------------------------------------------------------
    def bundle_exists(self, digest: str) -> bool:
        return bool(self.blobs.exists(self.blobs.bundle_uri(check_digest(digest))))

    def put_bundle(self, digest: str, data: bytes) -> str:
        """Store a bundle whose sha256 must be `digest`; return its URI."""
        check_digest(digest)
        if len(data) > MAX_BUNDLE_BYTES:
            raise RegistrationError(
                f"bundle is {len(data) >> 20} MiB; the limit is {MAX_BUNDLE_BYTES >> 20} MiB"
            )
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise RegistrationError(f"bundle content has sha256 {actual}, not {digest}")
        uri = str(self.blobs.bundle_uri(digest))
        if not self.blobs.exists(uri):
            self.blobs.write_bytes(uri, data)
        return uri

    def source_root(self, bundle_uri: str) -> str:
        """The unpacked bundle, the folder executions of its entities import from."""
        if not bundle_uri:
            return ""
        return unpack_bundle(self.blobs, bundle_uri, str(self.bundle_dir))

    # -- registration --------------------------------------------------------------------------
    def register(self, request: Registration) -> dict[str, Any]:
        """Check every template, then store all of them or none."""
        project = check_name(request.project, "project")
        domain = check_name(request.domain, "domain")
        digest = check_digest(request.bundle)
        if not self.bundle_exists(digest):
            raise RegistrationError(f"bundle {digest} was not uploaded (PUT /api/v1/bundles/ID)")
        version = check_name(request.version or digest[:16], "version")
        bundle_uri = str(self.blobs.bundle_uri(digest))
        entries: list[CatalogEntry] = []

        def add(kind: str, name: str, text: str) -> None:
            check_name(name, f"{kind} name")
            content = hashlib.sha256(f"{digest}\n{text}".encode()).hexdigest()
            entries.append(
                CatalogEntry(
                    project=project,
                    domain=domain,
                    kind=kind,
                    name=name,
                    version=version,
                    template=text,
                    digest=content,
                    bundle_uri=bundle_uri,
                )
            )

        for raw in request.tasks:
            task = portable(_decode(raw, TaskTemplate, "task"))
            add("task", task.name, dumps(task))
        workflows: dict[str, WorkflowTemplate] = {}
        for raw in request.workflows:
            workflow = portable(_decode(raw, WorkflowTemplate, "workflow"))
            try:
                check_workflow(workflow)
            except CompileError as exc:
                raise RegistrationError(str(exc)) from None
            workflows[workflow.name] = workflow
            add("workflow", workflow.name, dumps(workflow))
        for raw in request.launch_plans:
            plan = decode_plan(raw)
            workflow = workflows.get(plan.workflow)
            if workflow is None:
                known = self.store.get_entry(project, domain, "workflow", plan.workflow, version)
                if known is None:
                    raise RegistrationError(
                        f"launch plan {plan.name!r}: its workflow {plan.workflow!r} is neither in "
                        f"this registration nor registered at version {version!r}"
                    )
                workflow = decode(known.template, WorkflowTemplate)
            try:
                check_plan(plan, workflow)
            except PlanError as exc:
                raise RegistrationError(str(exc)) from None
            add("launch_plan", plan.name, dumps(plan))
        created = self.store.register(entries)
        return {
            "project": project,
            "domain": domain,
            "version": version,
            "bundle": digest,
            "entities": [
                {"kind": e.kind, "name": e.name, "version": e.version, "created": new}
                for e, new in zip(entries, created, strict=True)
            ],
        }

    # -- reading -------------------------------------------------------------------------------
    def get_entry(
        self, project: str, domain: str, kind: str, name: str, version: str | None = None
    ) -> CatalogEntry:
        entry = self.store.get_entry(project, domain, kind, name, version)
        if entry is None:
            at = f" version {version!r}" if version else ""
            raise NotFoundError(f"no {kind} {name!r}{at} registered in {project}/{domain}")
        return entry

    def workflow_of(self, entry: CatalogEntry) -> WorkflowTemplate | TaskTemplate:
        """The template a task or workflow entry runs (a plan's: its workflow's)."""
        if entry.kind == "task":
            return decode(entry.template, TaskTemplate)
        if entry.kind == "launch_plan":
            return self.plan_of(entry)[1]
        return decode(entry.template, WorkflowTemplate)

    def plan_of(self, entry: CatalogEntry) -> tuple[LaunchPlanTemplate, WorkflowTemplate]:
        """A launch plan entry's plan and its workflow (registered at the same version)."""
        plan = decode(entry.template, LaunchPlanTemplate)
        workflow = self.get_entry(
            entry.project, entry.domain, "workflow", plan.workflow, entry.version
        )
        return plan, decode(workflow.template, WorkflowTemplate)

    def document(self, entry: CatalogEntry, *, full: bool = True) -> dict[str, Any]:
        """One version of an entity: its interface (a JSON Schema per input) and graph."""
        doc: dict[str, Any] = {
            "project": entry.project,
            "domain": entry.domain,
            "kind": entry.kind,
            "name": entry.name,
            "version": entry.version,
            "registered_at": entry.created_at,
        }
        if not full:
            return doc
        if entry.kind == "launch_plan":
            plan, workflow = self.plan_of(entry)
            doc.update(plan_document(plan))
            doc["interface"] = interface_document(plan_interface(plan, workflow))
            doc["graph"] = graph_document(workflow)
            state = self.store.get_schedule(entry.project, entry.domain, entry.name)
            doc["active"] = bool(state and state.active and state.version == entry.version)
            return doc
        template = self.workflow_of(entry)
        doc["interface"] = interface_document(template.interface)
        if isinstance(template, WorkflowTemplate):
            doc["graph"] = graph_document(template)
        else:
            doc["task_type"] = template.task_type
        return doc

    def list_entities(
        self,
        kind: str,
        project: str | None = None,
        domain: str | None = None,
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Each entity once (its latest version in full) with all its versions."""
        grouped: dict[tuple[str, str, str], list[CatalogEntry]] = {}
        for entry in self.store.list_entries(kind, project, domain, name):
            grouped.setdefault((entry.project, entry.domain, entry.name), []).append(entry)
        out = []
        for versions in grouped.values():
            doc = self.document(versions[0])
            doc["versions"] = [
                {"version": v.version, "registered_at": v.created_at} for v in versions
            ]
            out.append(doc)
        return out

    def get_entity(
        self, project: str, domain: str, kind: str, name: str, version: str | None = None
    ) -> dict[str, Any]:
        entry = self.get_entry(project, domain, kind, name, version)
        doc = self.document(entry)
        doc["versions"] = [
            {"version": v.version, "registered_at": v.created_at}
            for v in self.store.list_entries(kind, project, domain, name)
        ]
        return doc


def portable(template: Any) -> Any:
    """The template without the registering machine's file paths (the bundle has the code), so
    the same code registered from two checkouts is the same content."""
    if isinstance(template, TaskTemplate):
        return msgspec.structs.replace(template, source_file="")
    return msgspec.structs.replace(
        template,
        source_file="",
        tasks={k: portable(t) for k, t in template.tasks.items()},
        workflows={k: portable(w) for k, w in template.workflows.items()},
    )


def _decode(raw: Any, cls: type[Any], what: str) -> Any:
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise RegistrationError(f"{what} template is not valid IR: {exc}") from None
