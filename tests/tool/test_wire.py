"""The boundary's wire format: plain data round-trips, nothing else crosses, junk is refused."""

from __future__ import annotations

import collections
import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolthink.tool import _wire as wire

SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(2**64, 2**300)
           | st.floats(allow_nan=False) | st.complex_numbers(allow_nan=False)
           | st.text(max_size=20) | st.binary(max_size=20))  # fmt: skip
HASHABLE = st.recursive(SCALARS, lambda inner: st.tuples(inner, inner) | st.frozensets(inner),
                        max_leaves=10)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(HASHABLE, inner, max_size=4) | st.sets(HASHABLE, max_size=4)
    | st.frozensets(HASHABLE, max_size=4),
    max_leaves=20,
)  # fmt: skip


def _types(value: object) -> object:
    """The value's shape: its types, nested (a set's members sorted by their repr)."""
    if isinstance(value, list | tuple):
        return (type(value), [_types(item) for item in value])
    if isinstance(value, set | frozenset):
        return (type(value), sorted(repr(_types(item)) for item in value))
    if isinstance(value, dict):
        return (dict, sorted(repr((_types(k), _types(v))) for k, v in value.items()))
    return type(value)


@given(VALUES)
def test_plain_data_round_trips_with_its_types(value: object) -> None:
    back = wire.decode(wire.encode(value))
    assert back == value
    assert _types(back) == _types(value)  # a tuple stays a tuple, True stays True


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_plain_data_or_a_wire_error(data: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode(data)


def test_special_floats_and_strings_round_trip() -> None:
    value = [float("nan"), -0.0, math.inf, "\ud800", b"\x00"]
    back = wire.decode(wire.encode(value))
    assert math.isnan(back[0])
    assert math.copysign(1, back[1]) == -1
    assert back[2:] == value[2:]


def test_library_containers_are_rebuilt_as_themselves() -> None:
    values = [collections.Counter("aab"), collections.OrderedDict([(2, 1), (1, 2)]),
              collections.defaultdict(list, {1: [2]}), collections.deque([1, 2], 3), int,
              str]  # fmt: skip
    for value in values:
        back = wire.decode(wire.encode(value))
        assert type(back) is type(value)
        assert back == value


class Text(str):
    pass


class Number(int):
    pass


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (Text("x"), "Text"),
        ([1, Number(2)], "Number"),
        ((x for x in ()), "generator"),
        (object(), "object"),
        (bytearray(b"x"), "bytearray"),
        (type, "type"),
        (collections.defaultdict(lambda: 0), "function"),
    ],
)
def test_anything_else_is_refused_by_name(value: object, named: str) -> None:
    with pytest.raises(wire.WireError, match=f"an object of type {named}"):
        wire.encode(value)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"s\x00\x00\x00\x05ab", "truncated"),
        (b"l\xff\xff\xff\xff", "truncated"),
        (b"S\x00\x00\x00\x01l\x00\x00\x00\x00", "unhashable"),
        (b"NN", "trailing"),
        (b"x", "unknown tag"),
        (b"l\x00\x00\x00\x01" * 101 + b"N", "nested deeper"),
        (b"y" + wire.encode("eval"), "not a builtin type"),
    ],
)
def test_crafted_bytes_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError, match=reason):
        wire.decode(data)
