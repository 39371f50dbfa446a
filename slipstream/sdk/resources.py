"""Resources and Kubernetes quantities, validated when a task is defined."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from slipstream.errors import DefinitionError
from slipstream.ir import ResourceSpec

_QUANTITY = re.compile(
    r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(text: str | int | float, field: str = "quantity") -> Decimal:
    """A Kubernetes quantity ("500m", "32Gi", "2") as a Decimal; DefinitionError if malformed."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise DefinitionError(
            f"{field}={text!r} is not a Kubernetes quantity (expected e.g. '500m', '2', '32Gi')"
        )
    match = _QUANTITY.match(str(text).strip())
    if match is None:
        raise DefinitionError(
            f"{field}={text!r} is not a Kubernetes quantity (expected e.g. '500m', '2', '32Gi')"
        )
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise DefinitionError(f"{field}={text!r} is not a Kubernetes quantity") from None
    if number < 0:
        raise DefinitionError(f"{field}={text!r} must not be negative")
    suffix = match.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    return number * _DECIMAL[suffix]


@dataclass(frozen=True)
class Resources:
    """CPU, memory, GPU and ephemeral storage as Kubernetes quantities (Flyte's Resources)."""

    cpu: str | int | float | None = None
    mem: str | None = None
    gpu: str | int | None = None
    ephemeral_storage: str | None = None

    def __post_init__(self) -> None:
        for field in ("cpu", "mem", "gpu", "ephemeral_storage"):
            value = getattr(self, field)
            if value is not None:
                parse_quantity(value, field)

    def to_spec(self) -> ResourceSpec:
        return ResourceSpec(
            cpu="" if self.cpu is None else str(self.cpu),
            mem=self.mem or "",
            gpu="" if self.gpu is None else str(self.gpu),
            ephemeral_storage=self.ephemeral_storage or "",
        )


def cpu_count(quantity: str) -> float:
    """CPUs in a cpu quantity ("500m" -> 0.5)."""
    return float(parse_quantity(quantity, "cpu"))


def memory_bytes(quantity: str) -> int:
    """Bytes in a memory quantity ("32Gi" -> 34359738368)."""
    return int(parse_quantity(quantity, "mem"))
