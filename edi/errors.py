"""The one exception type the EDI library raises."""

from __future__ import annotations


class EdiError(Exception):
    """A malformed or unsupported file, with where the problem is.

    ``segment_number`` counts segments from the start of the file (1-based),
    so an operator can find the place with any editor that splits segments.
    ``element`` is the 1-based element position inside that segment.
    ``ack`` optionally carries the X12 997 code that describes the problem,
    as ``(level, code)`` with level one of ``"AK3"``, ``"AK4"``, ``"AK5"``,
    ``"AK9"`` or ``"TA1"``; ``set_position`` is the segment's position inside
    its transaction set (ST = 1), which AK3 needs.
    """

    def __init__(
        self,
        message: str,
        segment_number: int | None = None,
        segment_id: str | None = None,
        element: int | None = None,
        *,
        component: int | None = None,
        ack: tuple[str, str] | None = None,
        set_position: int | None = None,
        bad_value: str | None = None,
        unit: str = "segment",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.segment_number = segment_number
        self.segment_id = segment_id
        self.element = element
        self.component = component
        self.ack = ack
        self.set_position = set_position
        self.bad_value = bad_value
        # "segment" for X12 and EDIFACT; "row" for CSV, whose elements are columns.
        self.unit = unit

    def __str__(self) -> str:
        where: list[str] = []
        row = self.unit == "row"
        if self.segment_number is not None:
            seg = f"{self.unit} {self.segment_number}"
            if self.segment_id and not row:
                seg += f" ({self.segment_id})"
            where.append(seg)
        elif self.segment_id and not row:
            where.append(f"segment {self.segment_id}")
        if self.element is not None:
            el = f"{'column' if row else 'element'} {self.element}"
            if self.component is not None:
                el += f".{self.component}"
            if row and self.segment_id:
                el += f" ({self.segment_id})"
            where.append(el)
        prefix = " ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def __repr__(self) -> str:
        return f"EdiError({str(self)!r})"
