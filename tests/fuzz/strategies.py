"""Hypothesis strategies for the fuzz tests: hostile JSON, and structure-aware
mutations of real-shaped carrier payloads and EDI files (segments, elements,
CSV cells), so the inputs get past the first parse and reach the deep code."""

from __future__ import annotations

import copy
import csv
import io
import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
# For examples that each cost an HTTP round trip through Django or a database transaction.
FUZZ_DB = settings(FUZZ, max_examples=80)


def label(outcome: str) -> None:
    """Count an outcome in Hypothesis' statistics (``--hypothesis-show-statistics``), inside a test or not."""
    try:
        _event(outcome)
    except InvalidArgument:
        pass


NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "\u202e",
    "😀" * 40,
    "null",
    "None",
    "NaN",
    "-0",
    "1e309",
    "9" * 80,
    "x" * 5000,
    "2026-11-27T13:05:00",
    "2026-11-27T13:05:00+01:00",
    "2026-02-30T25:61:00Z",
    "20261127",
    "2400",
    "-05:00",
    "+99:99",
    "0000-00-00",
    "'; DROP TABLE tracking_trackingevent; --",
    "../../etc/passwd",
    "<script>",
    "%s%n",
    "~",
    "*",
    "'",
    "+",
    ":",
    "?",
    "|",
    "\r\n",
    "ISA",
    "UNB+UNOC:3",
    "ST*214*0001~",
]
text = st.text(max_size=80) | st.sampled_from(NASTY_TEXT)
leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
)
json_values = st.recursive(
    leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _parent(doc: Any, path: tuple) -> tuple[Any, Any]:
    node = doc
    for step in path[:-1]:
        node = node[step]
    return node, path[-1]


@st.composite
def mutated_json(draw: Any, doc: Any) -> Any:
    """``doc`` with one to four changes: a value replaced, removed, retyped or its container duplicated."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return draw(json_values)
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path)
        action = draw(st.sampled_from(["replace", "replace", "delete", "wrap", "grow"]))
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
        elif isinstance(parent, list):
            parent.extend(copy.deepcopy(parent) * draw(st.integers(1, 3)))
        else:
            parent[draw(text)] = draw(json_values)
    return doc


@st.composite
def stretched_json(draw: Any, doc: Any) -> Any:
    """``doc`` with one to three of its strings padded past a column size (65, 201, 1001 or 5000)."""
    doc = copy.deepcopy(doc)
    strings = [p for p in _paths(doc) if p and isinstance(_parent(doc, p)[0][p[-1]], str)]
    if not strings:
        return doc
    for path in draw(st.lists(st.sampled_from(strings), min_size=1, max_size=3, unique=True)):
        parent, key = _parent(doc, path)
        value = parent[key] or "x"
        length = draw(st.sampled_from([65, 201, 1001, 5000]))
        parent[key] = (value * (length // len(value) + 1))[:length]
    return doc


def json_bytes(doc: Any) -> bytes:
    # NaN and Infinity are not JSON, but Python's reader (and careless carriers) accept them.
    return json.dumps(doc, allow_nan=True).encode("utf-8", errors="surrogatepass")


# --- EDI ---------------------------------------------------------------------------------------

edi_value = st.sampled_from(
    [
        "",
        "0",
        "20261345",
        "20260230",
        "2599",
        "9999",
        "235960",
        "-1",
        "1" * 40,
        "ZZ",
        "NS",
        "D1",
        "X6",
        "ÄÖÜ",
        "~",
        "*",
        ">",
        "^",
        "'",
        "+",
        ":",
        "?",
        "?'",
        "133",
        "137",
        "5",
        "ISA",
        "GS",
        "ST",
        "SE",
        "UNH",
        "UNT",
    ]
) | st.text(max_size=30)


def _x12_delimiters(data: bytes) -> tuple[str, str]:
    text_ = data.decode("latin-1")
    if text_.startswith("ISA") and len(text_) > 105:
        return text_[3], text_[105]
    return "*", "~"


@st.composite
def mutated_x12(draw: Any, data: bytes) -> bytes:
    element, terminator = _x12_delimiters(data)
    segments = data.decode("latin-1").split(terminator)
    for _ in range(draw(st.integers(1, 5))):
        if not segments:
            break
        at = draw(st.integers(0, len(segments) - 1))
        action = draw(st.sampled_from(["element", "element", "drop", "dup", "swap", "cut", "insert"]))
        if action == "element":
            parts = segments[at].split(element)
            parts[draw(st.integers(0, len(parts) - 1))] = draw(edi_value)
            if draw(st.booleans()):
                parts.extend([draw(edi_value)] * draw(st.integers(0, 3)))
            segments[at] = element.join(parts)
        elif action == "drop":
            del segments[at]
        elif action == "dup":
            segments.insert(at, segments[at])
        elif action == "swap":
            other = draw(st.integers(0, len(segments) - 1))
            segments[at], segments[other] = segments[other], segments[at]
        elif action == "cut":
            parts = segments[at].split(element)
            segments[at] = element.join(parts[: draw(st.integers(0, len(parts)))])
        else:
            tag = draw(st.sampled_from(["ST", "SE", "AT7", "MS1", "B10", "LX", "L11", "GE", "IEA", "ISA", "N1", "ZZZ"]))
            segments.insert(at, element.join([tag, *draw(st.lists(edi_value, max_size=6))]))
    return terminator.join(segments).encode("latin-1", errors="replace")


@st.composite
def mutated_edifact(draw: Any, data: bytes) -> bytes:
    text_ = data.decode("latin-1")
    segments = text_.split("'")
    for _ in range(draw(st.integers(1, 5))):
        if not segments:
            break
        at = draw(st.integers(0, len(segments) - 1))
        action = draw(st.sampled_from(["element", "element", "component", "drop", "dup", "swap", "insert"]))
        if action in ("element", "component"):
            parts = segments[at].split("+")
            i = draw(st.integers(0, len(parts) - 1))
            if action == "component":
                comps = parts[i].split(":")
                comps[draw(st.integers(0, len(comps) - 1))] = draw(edi_value)
                parts[i] = ":".join(comps)
            else:
                parts[i] = draw(edi_value)
            segments[at] = "+".join(parts)
        elif action == "drop":
            del segments[at]
        elif action == "dup":
            segments.insert(at, segments[at])
        elif action == "swap":
            other = draw(st.integers(0, len(segments) - 1))
            segments[at], segments[other] = segments[other], segments[at]
        else:
            tag = draw(st.sampled_from(["UNH", "UNT", "CNI", "STS", "DTM", "LOC", "RFF", "UNZ", "UNB", "NAD", "XXX"]))
            segments.insert(at, "+".join([tag, *draw(st.lists(edi_value, max_size=5))]))
    return "'".join(segments).encode("latin-1", errors="replace")


@st.composite
def mutated_csv(draw: Any, data: bytes) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    for _ in range(draw(st.integers(1, 5))):
        if not rows:
            break
        r = draw(st.integers(0, len(rows) - 1))
        action = draw(st.sampled_from(["cell", "cell", "drop_row", "dup_row", "drop_column", "add_column"]))
        if action == "cell" and rows[r]:
            rows[r][draw(st.integers(0, len(rows[r]) - 1))] = draw(edi_value | text)
        elif action == "drop_row":
            del rows[r]
        elif action == "dup_row":
            rows.insert(r, list(rows[r]))
        elif action == "drop_column" and rows[r]:
            del rows[r][draw(st.integers(0, len(rows[r]) - 1))]
        else:
            rows[r].append(draw(text))
    out = io.StringIO()
    csv.writer(out, delimiter=draw(st.sampled_from([",", ",", ";", "\t", "|"]))).writerows(rows)
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def damaged(data: bytes) -> Any:
    """Byte-level damage on top of the structure-aware kind: flips, cuts, splices."""
    return st.builds(
        lambda at, junk, cut: data[:at] + junk + data[at + cut :],
        st.integers(0, len(data)),
        st.binary(max_size=16),
        st.integers(0, 64),
    )
