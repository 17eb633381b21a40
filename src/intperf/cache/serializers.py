"""How values cross into Redis: JSON (default), msgpack, and pickle only by explicit opt-in
(unpickling runs code chosen by whoever can write to the Redis)."""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol

import msgpack

__all__ = ["JsonSerializer", "MsgpackSerializer", "PickleSerializer", "Serializer", "serializer"]


class Serializer(Protocol):
    """Turns a value into bytes and back."""

    name: str

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``."""
        ...

    def loads(self, data: bytes) -> Any:
        """Decode what :meth:`dumps` produced."""
        ...


class JsonSerializer:
    """Compact UTF-8 JSON (tuples come back as lists)."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        """Encode ``value`` as JSON."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        """Decode JSON."""
        return json.loads(data)


class MsgpackSerializer:
    """msgpack: smaller and faster than JSON, keeps bytes as bytes."""

    name = "msgpack"

    def dumps(self, value: Any) -> bytes:
        """Encode ``value`` as msgpack."""
        data: bytes = msgpack.packb(value, use_bin_type=True)
        return data

    def loads(self, data: bytes) -> Any:
        """Decode msgpack."""
        return msgpack.unpackb(data, raw=False, strict_map_key=False)


class PickleSerializer:
    """pickle: any Python object. Only with ``allow_pickle=True``: never read pickles from a
    Redis that someone you do not trust can write to."""

    name = "pickle"

    def __init__(self, *, allow_pickle: bool = False) -> None:
        if not allow_pickle:
            raise ValueError("pickle runs code on load: pass allow_pickle=True to opt in")

    def dumps(self, value: Any) -> bytes:
        """Pickle ``value``."""
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        """Unpickle (trusted data only)."""
        return pickle.loads(data)  # noqa: S301 - opt-in, documented above


def serializer(name: str, *, allow_pickle: bool = False) -> Serializer:
    """The serializer called ``name`` (json, msgpack, pickle)."""
    if name == "json":
        return JsonSerializer()
    if name == "msgpack":
        return MsgpackSerializer()
    if name == "pickle":
        return PickleSerializer(allow_pickle=allow_pickle)
    raise ValueError(f"unknown serializer {name!r}: json, msgpack or pickle")
