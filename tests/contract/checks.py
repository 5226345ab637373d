"""Contract checks: our published OpenAPI 3.1 schema, and Gluey's documented models.

- ``our_spec()`` — the schema ``/api/schema`` serves, generated once per process.
- ``check_ours(name, instance)`` — validates against our component ``name``,
  strictly: an object may not carry a field the schema does not document.
- ``check_gluey(name, instance)`` — validates against the JSON Schema written
  from Gluey's models (``gluey_models.schema.json``), with the one reading we
  document in the README (``GLUEY_READINGS``): a client generated from
  Gluey's spec parses what we send.
- ``install()`` wraps the functions that build webhook bodies and track
  responses, so every body any test produces is checked both ways as it is
  built; a mismatch raises ``ContractViolation`` where the body was made.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator, FormatChecker

GLUEY_SCHEMA = Path(__file__).with_name("gluey_models.schema.json")

# Where Gluey's docs disagree with themselves we follow our taxonomy, which is
# Gluey's own published code list: its milestones include customs,
# return_to_sender and admin, which the GlueyMilestone enum omits.
GLUEY_READINGS = {"GlueyMilestone": "taxonomy milestones"}


class ContractViolation(AssertionError):
    pass


@functools.cache
def our_spec() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def _forbid_extra(node: Any) -> None:
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _forbid_extra(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_extra(value)


@functools.cache
def _our_validator(name: str) -> Draft202012Validator:
    components = copy.deepcopy(our_spec()["components"])
    _forbid_extra(components)
    root = {"$ref": f"#/components/schemas/{name}", "components": components}
    return Draft202012Validator(root, format_checker=FormatChecker())


@functools.cache
def gluey_schema() -> dict[str, Any]:
    return json.loads(GLUEY_SCHEMA.read_text())


@functools.cache
def _gluey_validator(name: str) -> Draft202012Validator:
    from tracking.taxonomy import taxonomy_rows

    schema = copy.deepcopy(gluey_schema())
    milestones = schema["$defs"]["GlueyMilestone"]["enum"]
    milestones.extend(sorted({row["milestone"] for row in taxonomy_rows()} - set(milestones)))
    return Draft202012Validator({**schema, "$ref": f"#/$defs/{name}"}, format_checker=FormatChecker())


def _check(validator: Draft202012Validator, what: str, instance: Any) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        problems = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5])
        raise ContractViolation(f"{what} breaks the contract: {problems}")


def check_ours(name: str, instance: Any) -> None:
    _check(_our_validator(name), f"our {name}", instance)


def check_gluey(name: str, instance: Any) -> None:
    _check(_gluey_validator(name), f"Gluey's {name}", instance)


def check_webhook_item(item: dict[str, Any]) -> None:
    check_ours("TrackingWebhookEvent", item)
    check_gluey("TrackingWebhookEvent", item)


def check_track_body(body: dict[str, Any], *, single: bool) -> None:
    name = "TrackSingleShipment" if single else "BatchTrackShipment"
    check_ours(name, body)
    check_gluey(name, body)


checked = {"webhook": 0, "track": 0}


def install(monkeypatch: Any) -> None:
    """Wrap the body builders (module attributes looked up at call time)."""
    from notifications.services import outbox
    from tracking import representations

    original_dumps = outbox.body_dumps
    original_track = representations.batch_track_shipment_dict
    original_event = representations.webhook_event_dict

    def body_dumps(items: list[dict[str, Any]]) -> str:
        for item in items:
            check_webhook_item(item)
        checked["webhook"] += len(items)
        return original_dumps(items)

    def batch_track_shipment_dict(*args: Any, **kwargs: Any) -> dict[str, Any]:
        body = original_track(*args, **kwargs)
        # As the client gets it: stored event JSON (orjson.Fragment) spliced in.
        check_track_body(orjson.loads(orjson.dumps(body)), single=kwargs.get("single", False))
        checked["track"] += 1
        return body

    def webhook_event_dict(**kwargs: Any) -> dict[str, Any]:
        item = original_event(**kwargs)
        check_webhook_item(item)
        checked["webhook"] += 1
        return item

    monkeypatch.setattr(outbox, "body_dumps", body_dumps)
    monkeypatch.setattr(representations, "batch_track_shipment_dict", batch_track_shipment_dict)
    monkeypatch.setattr(representations, "webhook_event_dict", webhook_event_dict)
