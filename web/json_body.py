"""Reading a JSON request body: the one reader every JSON endpoint uses (the REST API, the
chat page, the Telegram webhook, and Flask's own ``request.get_json`` through
``JsonProvider``).

Python's ``json`` accepts what a request must not bring in: nesting deep enough to exhaust
the interpreter's recursion limit (2,000 ``[`` in 4 KB: a RecursionError, which would be a
500), ``NaN`` and ``Infinity`` (not JSON), and strings a database cannot store (NUL, lone
surrogates from ``\\ud800`` escapes). Each is refused here with ``BadJson``, whose message
names the field; the caller answers 400 (or 422 for a field) and nothing is stored.
"""
from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider

from rewards import inputs

# Deeper than any body we take (a Telegram update is about 8 levels deep, a campaign 3).
MAX_DEPTH = 32


class BadJson(ValueError):
    """The body is not JSON we read; ``field`` is the path of the value at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _no_constant(name: str) -> Any:
    raise BadJson(f"the body is not valid JSON ({name} is not a JSON number)")


def loads(raw: bytes | str, *, clean: bool = False) -> Any:
    """The JSON value in ``raw``, or BadJson saying what is wrong with it. ``clean``: text a
    database cannot store is made storable (``rewards.inputs.cleaned_text``) instead of refused,
    for a provider's delivery (a customer's message is answered, not dropped)."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise BadJson(f"the JSON is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except BadJson:
        raise
    except ValueError:  # includes UnicodeDecodeError and Python's limit on digits in a number
        raise BadJson("the body is not valid JSON") from None
    return _check(value, clean)


def read_object(raw: bytes | str) -> dict[str, Any]:
    """``loads`` for a body that must be a JSON object."""
    value = loads(raw)
    if not isinstance(value, dict):
        raise BadJson("the body must be a JSON object")
    return value


def _check(value: Any, clean: bool) -> Any:
    """Depth and storable strings, walked without recursion (the value may be deep);
    strings cleaned in place when ``clean``. Returns the value (cleaned)."""
    if isinstance(value, str):
        return _text(value, "", clean)
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise BadJson(f"the JSON is nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(item, dict):
            for key in list(item):
                inner = f"{path}.{key}" if path else key
                child = item[key]
                if isinstance(child, str):
                    child = _text(child, inner, clean)
                fixed = _text(key, inner, clean)
                if fixed != key:
                    del item[key]
                item[fixed] = child
                stack.append((child, inner, depth + 1))
        else:
            for i, child in enumerate(item):
                if isinstance(child, str):
                    item[i] = _text(child, f"{path}[{i}]", clean)
                else:
                    stack.append((child, f"{path}[{i}]", depth + 1))
    return value


def _text(text: str, path: str, clean: bool) -> str:
    why = inputs.unstorable(text)
    if why is None:
        return text
    if clean:
        return inputs.cleaned_text(text)
    # A key with a NUL names itself badly: the path is shown with such characters escaped.
    shown = path.encode("unicode_escape", "backslashreplace").decode("ascii") if path else "the body"
    # Worded as rewards.inputs.storable_text words it, so every surface says it the same way.
    raise BadJson(f"{shown}: contains {why}; send plain UTF-8 text", field=shown if path else None)


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, reading with ``loads`` above: ``request.get_json`` refuses the same
    bodies (as 400: a BadJson is a ValueError, which Flask turns into Bad Request)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
