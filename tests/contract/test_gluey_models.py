"""Our published models, field by field, against Gluey's documented models.

``gluey_models.schema.json`` is a JSON Schema written by hand from the field
definitions of Gluey's tracking models. For every Gluey model and field this
checks our OpenAPI component of the same name: the field exists, is required
where Gluey requires it and then never null, has a compatible type (same
nested model, same array item, number for number), and our enum values are
within Gluey's (the one documented reading aside: milestones come from the
taxonomy, see the README's "Gluey compatibility").
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.checks import GLUEY_READINGS, check_gluey, gluey_schema, our_spec

pytestmark = pytest.mark.django_db

GLUEY_MODELS = sorted(name for name, schema in gluey_schema()["$defs"].items() if schema.get("type") == "object")
GLUEY_ENUMS = sorted(name for name, schema in gluey_schema()["$defs"].items() if "enum" in schema)
# Gluey's enums our schema spells inline (a single fixed unit).
INLINE_ENUMS = {"UnitOfWeight", "UnitOfMeasurement"}


def _ours() -> dict[str, Any]:
    return our_spec()["components"]["schemas"]


def _shape(schema: dict[str, Any]) -> tuple[str, Any, bool]:
    """(kind, detail, nullable) of a property schema, from either side."""
    nullable = False
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        schema = options[0]
    if "allOf" in schema:
        schema = schema["allOf"][0]
    if "$ref" in schema:
        return "ref", schema["$ref"].rsplit("/", 1)[1], nullable
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        kind = next(k for k in kind if k != "null")
    if "enum" in schema:
        return "enum", [v for v in schema["enum"] if v is not None], nullable
    if kind == "array":
        return "array", _shape(schema["items"])[:2], nullable
    return str(kind), None, nullable


def _enum_values(name: str) -> list[str]:
    return [v for v in gluey_schema()["$defs"][name]["enum"] if v is not None]


@pytest.mark.parametrize("model", GLUEY_MODELS)
def test_our_model_has_every_gluey_field_with_the_same_requiredness_and_type(model):
    theirs = gluey_schema()["$defs"][model]
    ours = _ours().get(model)
    assert ours is not None, f"our schema has no {model}"
    our_required = set(ours.get("required", ()))
    for field, their_schema in theirs["properties"].items():
        assert field in ours["properties"], f"{model}.{field} is missing"
        their_kind, their_detail, _ = _shape(their_schema)
        our_kind, our_detail, our_nullable = _shape(ours["properties"][field])
        if our_kind == "ref" and "enum" in _ours()[our_detail] and their_kind != "ref":
            our_kind, our_detail = "enum", _ours()[our_detail]["enum"]  # a typed string (our taxonomy codes)
        elif our_kind == "ref" and "enum" in _ours()[our_detail] and their_detail in INLINE_ENUMS:
            our_kind, our_detail = "enum", _ours()[our_detail]["enum"]
        where = f"{model}.{field}"
        if field in theirs["required"]:
            assert field in our_required, f"{where} is required by Gluey but optional in ours"
            assert not our_nullable, f"{where} is required by Gluey and may not be null"
        if their_kind == "ref" and their_detail in GLUEY_ENUMS:
            if their_detail in INLINE_ENUMS:
                assert our_kind == "enum" and set(our_detail) <= set(_enum_values(their_detail)), where
            else:
                assert (our_kind, our_detail) == ("ref", their_detail), where
        elif their_kind == "ref":
            assert (our_kind, our_detail) == ("ref", their_detail), where
        elif their_kind == "array":
            assert our_kind == "array" and our_detail == their_detail, where
        elif their_kind == "number":
            assert our_kind in ("number", "integer"), where
        else:
            assert our_kind in (their_kind, "enum") or (our_kind == "string" and their_kind == "string"), where


@pytest.mark.parametrize("enum", sorted(set(GLUEY_ENUMS) - INLINE_ENUMS))
def test_our_enum_values_are_gluey_values(enum):
    ours = set(_ours()[enum]["enum"])
    theirs = set(_enum_values(enum))
    if enum in GLUEY_READINGS:
        from tracking.taxonomy import taxonomy_rows

        assert ours == {row["milestone"] for row in taxonomy_rows()}
        # The reading is needed only for the milestones Gluey's own code list adds.
        assert ours - theirs == {"customs", "return_to_sender", "admin"}
    else:
        assert ours <= theirs, ours - theirs


def test_the_gluey_schema_refuses_what_a_gluey_client_would_refuse():
    """The hand-written schema is not vacuous: a renamed or missing field fails."""
    from tests.contract.checks import ContractViolation

    good = {"parcel_id": "p", "carrier_tracking_id": "P1"}
    check_gluey("WebhookTrackingEventParcel", good)
    with pytest.raises(ContractViolation, match="parcel_id"):
        check_gluey("WebhookTrackingEventParcel", {"id": "p", "carrier_tracking_id": "P1"})
    with pytest.raises(ContractViolation, match="photo_format"):
        check_gluey("TrackingEventDeliveryConfirmation", {"signed_by": "J", "photo_format": None})
    with pytest.raises(ContractViolation, match="city"):
        check_gluey("TrackingEventAddress", {"name": "", "iso_country": "GB"})
