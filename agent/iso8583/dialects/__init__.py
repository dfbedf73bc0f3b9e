"""The known dialects by name.  Each is one declaration module; `get_dialect` looks them up."""

from __future__ import annotations

import importlib

from agent.iso8583.dialect import Dialect
from agent.iso8583.errors import CodecError

#: dialect name -> module that declares it (as `DIALECT`)
KNOWN = {
    "cup": "agent.iso8583.dialects.cup",
    "iso87": "agent.iso8583.dialects.iso87",
}

_loaded: dict[str, Dialect] = {}


def get_dialect(name: str) -> Dialect:
    """The dialect called `name` ("cup" or "iso87"); an unknown name is a CodecError listing the known."""
    dialect = _loaded.get(name)
    if dialect is None:
        module = KNOWN.get(name)
        if module is None:
            raise CodecError(f"unknown dialect {name!r}: known dialects are {', '.join(sorted(KNOWN))}")
        declared: Dialect = importlib.import_module(module).DIALECT
        dialect = _loaded[name] = declared
    return dialect
