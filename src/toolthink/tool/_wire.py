"""The boundary's wire format: plain data only, decoded by pure Python with bounds.

Used on both sides of the separate test process (`toolthink.tool._tests_runner`,
`toolthink.tool._candidate`), which receive this file's source and exec it (it
uses the standard library only). `encode` accepts exactly these types (subclasses
refused, so no method of the candidate's can run on the tests' side):
None, bool, int, float (nan and infinities included), complex, str, bytes, and
list, tuple, dict, set, frozenset of them, nested at most `MAX_DEPTH` deep,
`MAX_ITEMS` values and `MAX_BYTES` bytes in all. Besides these, a few objects
whose class and methods are the standard library's own, rebuilt on the other
side from plain data, so no method of the sender's runs there: the builtin
types themselves (``int``, ``str`` ..., which MBPP passes as arguments) and
``collections.Counter``, ``OrderedDict``, ``defaultdict`` (its factory a builtin
type or None) and ``deque`` (which references return and compare with dicts
and lists). Exact types only.

Why not ``marshal``: the tests' process decodes what the candidate's process
sends, and ``marshal.loads`` is documented as unsafe on crafted data (it builds
code objects, and its C decoder has had crashes on malformed input). `decode`
is a short pure-Python parser: whatever bytes it is given, it can only raise
`WireError` or return plain data (a set or dict key that cannot be hashed, a
length that runs past the end: `WireError`).

Layout: one tag byte, then ``N`` None, ``T`` True, ``F`` False, ``i`` an int in 8
bytes (signed, big-endian), ``I`` a longer int (4-byte length, signed bytes),
``f`` a float (8 bytes IEEE), ``c`` a complex (16), ``s`` a str (4-byte length,
UTF-8 with lone surrogates kept), ``b`` bytes (4-byte length, raw), and ``l``,
``t``, ``S``, ``z``, ``d`` (list, tuple, set, frozenset, dict) a 4-byte count then
the items (a dict's as key, value, key, value ...); ``y`` a builtin type (its
name as a value); ``C``, ``O`` a Counter, an OrderedDict (as a dict); ``D`` a
defaultdict (its factory, then as a dict); ``Q`` a deque (its maxlen, then as
a list).
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_DEPTH = 100
MAX_ITEMS = 1_000_000
MAX_BYTES = 32 << 20

_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
_C128 = struct.Struct(">dd")
_I64_LOW, _I64_HIGH = -(1 << 63), (1 << 63) - 1
_CONTAINERS: dict[type, bytes] = {list: b"l", tuple: b"t", set: b"S", frozenset: b"z"}
_BUILD = {"l": list, "t": tuple, "S": set, "z": frozenset}
_TYPES = {kind.__name__: kind for kind in (bool, bytes, complex, dict, float, frozenset, int,
                                           list, object, set, str, tuple)}  # fmt: skip


def _collections() -> dict[str, type]:
    import collections  # noqa: PLC0415 (1.8 ms; only when such a value crosses)

    return {"C": collections.Counter, "O": collections.OrderedDict,
            "D": collections.defaultdict, "Q": collections.deque}  # fmt: skip


class WireError(ValueError):
    """A value that cannot cross the boundary, or bytes that are not a value."""


class _Encoder:
    def __init__(self) -> None:
        self.out = bytearray()
        self.items = 0

    def value(self, obj: object, depth: int) -> None:  # noqa: PLR0912, PLR0915 (one case per type)
        self.items += 1
        if self.items > MAX_ITEMS:
            msg = f"more than {MAX_ITEMS} values"
            raise WireError(msg)
        if len(self.out) > MAX_BYTES:
            msg = f"more than {MAX_BYTES} bytes"
            raise WireError(msg)
        kind = type(obj)
        out = self.out
        if obj is None:
            out += b"N"
        elif obj is True:
            out += b"T"
        elif obj is False:
            out += b"F"
        elif kind is int:
            number: Any = obj
            if _I64_LOW <= number <= _I64_HIGH:
                out += b"i" + _I64.pack(number)
            else:
                size = (number.bit_length() + 8) // 8
                out += b"I" + _U32.pack(size) + number.to_bytes(size, "big", signed=True)
        elif kind is float:
            out += b"f" + _F64.pack(obj)
        elif kind is complex:
            pair: Any = obj
            out += b"c" + _C128.pack(pair.real, pair.imag)
        elif kind is str:
            text: Any = obj
            data = text.encode("utf-8", "surrogatepass")
            out += b"s" + _U32.pack(len(data)) + data
        elif kind is bytes:
            raw: Any = obj
            out += b"b" + _U32.pack(len(raw)) + raw
        elif kind in _CONTAINERS or kind is dict:
            if depth >= MAX_DEPTH:
                msg = f"nested deeper than {MAX_DEPTH}"
                raise WireError(msg)
            if kind is dict:
                mapping: Any = obj
                out += b"d" + _U32.pack(len(mapping))
                for key, item in list(mapping.items()):
                    self.value(key, depth + 1)
                    self.value(item, depth + 1)
            else:
                items: Any = obj
                out += _CONTAINERS[kind] + _U32.pack(len(items))
                for item in list(items):
                    self.value(item, depth + 1)
        elif kind is type and _TYPES.get(getattr(obj, "__name__", "")) is obj:
            out += b"y"
            self.value(getattr(obj, "__name__", ""), depth + 1)
        else:
            self.library(obj, kind, depth)

    def library(self, obj: Any, kind: type, depth: int) -> None:
        """The standard library's containers, or `WireError` naming the type."""
        tags = {made: tag for tag, made in _collections().items()}
        tag = tags.get(kind)
        if tag is None:
            msg = f"an object of type {_type_name(obj)}"
            raise WireError(msg)
        if depth >= MAX_DEPTH:
            msg = f"nested deeper than {MAX_DEPTH}"
            raise WireError(msg)
        self.out += tag.encode()
        if tag == "D":
            self.value(obj.default_factory, depth + 1)
        if tag == "Q":
            self.value(obj.maxlen, depth + 1)
            self.value(list(obj), depth + 1)
        else:
            self.value(dict(obj), depth + 1)


def _type_name(obj: object) -> str:
    try:
        name = type(obj).__qualname__
    except BaseException:  # (a metaclass may raise anything)
        return "?"
    return name if type(name) is str else "?"


def encode(obj: object) -> bytes:
    """``obj`` as bytes, or `WireError` naming the first value that cannot cross."""
    encoder = _Encoder()
    encoder.value(obj, 0)
    if len(encoder.out) > MAX_BYTES:
        msg = f"more than {MAX_BYTES} bytes"
        raise WireError(msg)
    return bytes(encoder.out)


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0
        self.items = 0

    def take(self, size: int) -> bytes:
        end = self.at + size
        if end > len(self.data):
            msg = "truncated data"
            raise WireError(msg)
        chunk = self.data[self.at : end]
        self.at = end
        return chunk

    def count(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def value(self, depth: int) -> Any:  # noqa: PLR0912 (one case per tag)
        self.items += 1
        if self.items > MAX_ITEMS:
            msg = f"more than {MAX_ITEMS} values"
            raise WireError(msg)
        tag = chr(self.take(1)[0])
        if tag == "N":
            return None
        if tag == "T":
            return True
        if tag == "F":
            return False
        if tag == "i":
            return _I64.unpack(self.take(8))[0]
        if tag == "I":
            return int.from_bytes(self.take(self.count()), "big", signed=True)
        if tag == "f":
            return _F64.unpack(self.take(8))[0]
        if tag == "c":
            real, imag = _C128.unpack(self.take(16))
            return complex(real, imag)
        if tag == "s":
            try:
                return self.take(self.count()).decode("utf-8", "surrogatepass")
            except UnicodeDecodeError as exc:
                raise WireError(str(exc)) from None
        if tag == "b":
            return self.take(self.count())
        if tag == "y":
            name = self.value(depth + 1)
            if type(name) is not str or name not in _TYPES:
                msg = "not a builtin type"
                raise WireError(msg)
            return _TYPES[name]
        if tag in "CODQ":
            return self.library(tag, depth)
        if tag not in _BUILD and tag != "d":
            msg = f"unknown tag {tag!r}"
            raise WireError(msg)
        if depth >= MAX_DEPTH:
            msg = f"nested deeper than {MAX_DEPTH}"
            raise WireError(msg)
        size = self.count()
        if size > len(self.data) - self.at:  # every item takes a byte at least
            msg = "truncated data"
            raise WireError(msg)
        try:
            if tag == "d":
                return {self.value(depth + 1): self.value(depth + 1) for _ in range(size)}
            return _BUILD[tag](self.value(depth + 1) for _ in range(size))
        except TypeError as exc:  # an unhashable set member or dict key
            raise WireError(str(exc)) from None


    def library(self, tag: str, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            msg = f"nested deeper than {MAX_DEPTH}"
            raise WireError(msg)
        made = _collections()[tag]
        factory = self.value(depth + 1) if tag in "DQ" else None
        items = self.value(depth + 1)
        if tag == "Q":
            if type(items) is not list or not (factory is None or type(factory) is int):
                msg = "not a deque"
                raise WireError(msg)
            try:
                return made(items, factory)
            except ValueError as exc:  # a negative maxlen
                raise WireError(str(exc)) from None
        if type(items) is not dict or not (factory is None or factory in _TYPES.values()):
            msg = "not a mapping of the collections module"
            raise WireError(msg)
        return made(factory, items) if tag == "D" else made(items)


def decode(data: bytes) -> Any:
    """The value in ``data`` (as `encode` writes it); `WireError` for anything else."""
    if type(data) is not bytes or len(data) > MAX_BYTES + 64:
        msg = "not a message of the boundary"
        raise WireError(msg)
    decoder = _Decoder(data)
    value = decoder.value(0)
    if decoder.at != len(data):
        msg = "trailing bytes"
        raise WireError(msg)
    return value


def send(fd: int, obj: object) -> None:
    """Write ``obj`` to ``fd`` as one frame: a 4-byte length, then `encode`'s bytes."""
    send_bytes(fd, encode(obj))


def send_bytes(fd: int, data: bytes) -> None:
    """Write one frame whose body is ``data`` (already `encode`d) to ``fd``."""
    view = memoryview(_U32.pack(len(data)) + data)
    while view:
        view = view[_write(fd, view) :]


def receive(fd: int) -> Any:
    """Read one frame from ``fd`` and decode it; `EOFError` when the writer is gone.

    Raises:
        EOFError: ``fd`` closed before a whole frame arrived.
        WireError: The frame is longer than `MAX_BYTES` or is not a value.
    """
    size: int = _U32.unpack(_read_exact(fd, 4))[0]
    if size > MAX_BYTES + 64:
        msg = f"a frame of {size} bytes (the most is {MAX_BYTES})"
        raise WireError(msg)
    return decode(_read_exact(fd, size))


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    left = size
    while left:
        chunk = _read(fd, min(left, 1 << 20))
        if not chunk:
            msg = "the other side closed the channel"
            raise EOFError(msg)
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _bind_io() -> tuple[Any, Any]:
    import os  # noqa: PLC0415 (bound once: the module is exec'd from its source)

    return os.read, os.write


_read, _write = _bind_io()
