"""Parsing untrusted JSON with limits, for every edge that takes input (Kafka records and HTTP bodies).

Python's `json` raises more than `JSONDecodeError` on hostile input: `RecursionError` for deep nesting,
`ValueError` for integers of more than 4,300 digits, and it accepts `NaN`/`Infinity`, which no column
holds. Every such input becomes one `InvalidJson` with a short reason that never quotes the input.
"""

from __future__ import annotations

import json
from typing import Any

# Teppan's deepest event is three levels; thirty-two leaves room for free-form label values.
MAX_JSON_DEPTH = 32


class InvalidJson(ValueError):
    """Input that is not JSON Teppan will take; the message says why without echoing it."""


def _reject_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number")


# One decoder, built once: `json.loads` with a hook builds a new one for every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


# Records at most this long, with few brackets and no spelled-out NaN or Infinity, cannot break any of the
# limits above (a 4,300-digit integer needs more bytes than this), so pydantic's own JSON parser may read
# them straight into a model without the checks; anything else takes the careful path.
PLAIN_JSON_MAX_BYTES = 4096


def is_plainly_bounded(data: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether `data` is short and simple enough that no limit of `loads_bounded` can apply to it."""
    return (
        len(data) <= PLAIN_JSON_MAX_BYTES
        and data.count(b"{") + data.count(b"[") <= max_depth
        and b"NaN" not in data
        and b"Infinity" not in data
    )


def loads_bounded(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` that raises only `InvalidJson`: bad UTF-8, bad syntax, too deep, huge ints, NaN."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        value = _DECODER.decode(text)
    except InvalidJson:
        raise
    except RecursionError:
        raise InvalidJson(f"JSON nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as error:
        raise InvalidJson(f"not UTF-8: {error.reason} at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise InvalidJson(f"not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except ValueError as error:
        # The interpreter's limit on integer digits (CVE-2020-10735) says so in a ValueError.
        raise InvalidJson(f"not acceptable JSON: {str(error)[:120]}") from None
    # Nesting can be no deeper than the number of opening brackets: counting them runs at C speed, so
    # the walk is only paid for input that could be too deep.
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"{") + raw.count(b"[") > max_depth and json_depth(value) > max_depth:
        raise InvalidJson(f"JSON nested deeper than {max_depth} levels")
    return value
