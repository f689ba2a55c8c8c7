"""Constrained numbers and strings of the wire shapes, as the database stores them.

Out of range is refused where the shape is validated (a 422 on the server), never an overflow.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
Int32 = Annotated[int, Field(ge=-(2**31), le=MAX_INT32)]
Count = Annotated[int, Field(ge=0, le=MAX_INT32)]
Size = Annotated[int, Field(ge=0, le=MAX_INT64)]
RowId = Annotated[int, Field(ge=-(2**31), le=MAX_INT32)]  # ids are 32-bit on PostgreSQL
Finite = Annotated[float, Field(allow_inf_nan=False)]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", examples=["e3b0c442" + "0" * 56])]
Epoch = Annotated[float, Field(description="seconds since 1970 (UTC)")]


def refuse_non_finite(value: Any, where: str = "") -> None:
    """Raise ValueError if `value` holds NaN or an infinity anywhere (JSON lets Python read
    them; the databases cannot store them in JSON columns)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where or 'a number'} must be a finite number, not {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            refuse_non_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            refuse_non_finite(v, f"{where}[{i}]")


class Record(BaseModel):
    """A reply record: immutable once read; `from_json` validates a decoded JSON reply."""

    # frozen; in reply schemas every field is required (defaults are for readers only)
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """The record of a decoded JSON reply (pydantic validates it)."""
        return cls.model_validate(data)
