"""What the rooms' in-memory fakes share: all-or-nothing transactions, a recording publisher, and the
column lists of the migrations' tables (so a row type is checked against its table without a database).
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import AsyncIterator, Sequence
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar

EventT = TypeVar("EventT")


class Transactional:
    """Fake stores keep their tables as attributes; a transaction restores them all when its block raises."""

    @contextlib.asynccontextmanager
    async def _all_or_nothing(self) -> AsyncIterator[None]:
        before = copy.deepcopy(vars(self))
        try:
            yield
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise


class Publisher(Generic[EventT]):
    """Records what a handler publishes; `fail` makes the next publish raise, as a broker outage would."""

    def __init__(self) -> None:
        self.published: list[EventT] = []
        self.fail = False

    async def __call__(self, events: Sequence[EventT]) -> None:
        if self.fail:
            self.fail = False
            raise ConnectionError("broker unavailable")
        self.published.extend(events)


@cache
def table_columns(table: str) -> tuple[str, ...]:
    """The columns of `table` as the migrations create it."""
    sql = "\n".join(
        entry.read_text()
        for entry in resources.files("shared.migrations").iterdir()
        if entry.name.endswith(".sql")
    )
    match = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", sql, re.DOTALL)
    assert match, f"no CREATE TABLE {table} in the migrations"
    columns = []
    for line in match.group(1).splitlines():
        line = line.strip()
        if line and not line.startswith(("--", "PRIMARY KEY", "UNIQUE", "CHECK", "'")) and line[0].isalpha():
            columns.append(line.split()[0])
    return tuple(columns)


def assert_row_type_fits(row_type: Any, table: str) -> None:
    """Every field of a NamedTuple row type is a column of `table`."""
    assert set(row_type._fields) <= set(table_columns(table)), (row_type.__name__, table_columns(table))
