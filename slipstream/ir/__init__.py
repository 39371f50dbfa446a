"""The typed intermediate representation: frozen msgspec Structs shared by every layer."""

from slipstream.ir.codec import decode, dumps, encode, literal_hash
from slipstream.ir.model import (
    Binding,
    CacheSpec,
    ErrorDocument,
    LaunchPlanTemplate,
    Literal,
    LiteralMap,
    LiteralMapDocument,
    LiteralType,
    Node,
    Overrides,
    ResourceSpec,
    ScheduleSpec,
    TaskTemplate,
    TypedInterface,
    Variable,
    WorkflowTemplate,
)

__all__ = [
    "Binding",
    "CacheSpec",
    "ErrorDocument",
    "LaunchPlanTemplate",
    "Literal",
    "LiteralMap",
    "LiteralMapDocument",
    "LiteralType",
    "Node",
    "Overrides",
    "ResourceSpec",
    "ScheduleSpec",
    "TaskTemplate",
    "TypedInterface",
    "Variable",
    "WorkflowTemplate",
    "decode",
    "dumps",
    "encode",
    "literal_hash",
]
