"""The worker's per-message statements on SQLite, run on the transaction's own sqlite3 cursor.

On SQLite a statement of the worker's (look up a sender, read a consent state, insert an event, mark
the message done) runs in about a microsecond; going through `Connection.execute` costs 15-20 µs
more (an execution context, parameter processing, a result object), and a message takes eight or
more of them. `execute(conn, statement, params)` keeps each statement written once, in SQLAlchemy
Core: it is compiled once for SQLite (cached per statement and set of parameter names), its
parameters go through SQLAlchemy's own bind processors and its rows through its result processors,
and it runs on the DBAPI connection of `conn`, inside the caller's transaction.

Anything else goes to `conn.execute` unchanged: another database, a statement whose compiled form
needs a default SQLAlchemy computes at execution (a Python-side column default), a parameter the
caller did not give. The results answer the part of SQLAlchemy's `Result` the callers use.
`executemany` does the same for a batch of rows on a sqlite3 cursor the caller holds: the SMTP
intake's group commit, which runs its own BEGIN IMMEDIATE on a raw connection.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

_MISSING = object()


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    fixed: tuple[Any, ...]  # a value bound in the statement itself, or _MISSING: the caller gives it
    binds: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[Callable[[Any], Any] | None, ...]
    row: Any  # a namedtuple class, or None when the statement returns no rows


_plans: dict[tuple[int, frozenset[str]], _Plan | None] = {}
_MAX_PLANS = 256  # the module-level statements of the store, with room to spare


def _plan(statement: ClauseElement, dialect: Dialect, keys: frozenset[str]) -> _Plan | None:
    is_dml = getattr(statement, "is_dml", False)
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys) if is_dml else None)
    if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
        return None  # a default computed at execution: SQLAlchemy's job
    names = tuple(compiled.positiontup or ())
    fixed, binds = [], []
    for name in names:
        bind = compiled.binds[name]
        if name in keys:
            fixed.append(_MISSING)
        elif not bind.required and bind.callable is None:
            fixed.append(bind.value)
        else:
            return None
        binds.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
    if getattr(statement, "is_select", False):
        columns = list(statement.selected_columns)
    elif is_dml and getattr(statement, "_returning", ()):
        columns = list(statement.exported_columns)
    else:
        columns = []
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    row = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
    return _Plan(str(compiled), names, tuple(fixed), tuple(binds), results, row)


class FastResult:
    """The rows of one statement, answering like sqlalchemy's Result for first/all/scalar(s)/rowcount."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def all(self) -> list:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]

    def scalars(self) -> list:
        return [r[0] for r in self._rows]


def _cached_plan(statement: ClauseElement, dialect: Dialect, keys: frozenset[str]) -> _Plan | None | object:
    """The statement's plan for these parameter names; _MISSING when the cache is full."""
    cache_key = (id(statement), keys)
    try:
        return _plans[cache_key]
    except KeyError:
        if len(_plans) >= _MAX_PLANS:  # statements built per call do not belong here
            return _MISSING
        plan = _plans[cache_key] = _plan(statement, dialect, keys)
        _keep_alive.append(statement)  # its id stays its own while the plan is cached
        return plan


def _values(plan: _Plan, params: dict[str, Any]) -> list[Any]:
    values = []
    for name, fixed, process in zip(plan.names, plan.fixed, plan.binds):
        value = params[name] if fixed is _MISSING else fixed
        values.append(process(value) if process is not None and value is not None else value)
    return values


def execute(conn: Connection, statement: ClauseElement, params: dict[str, Any]) -> Any:
    """conn.execute(statement, params), on SQLite without SQLAlchemy's per-statement cost."""
    if conn.dialect.name != "sqlite":
        return conn.execute(statement, params)
    plan = _cached_plan(statement, conn.dialect, frozenset(params))
    if plan is None or plan is _MISSING:
        return conn.execute(statement, params)
    assert isinstance(plan, _Plan)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(plan.sql, _values(plan, params))
        rows = cursor.fetchall() if plan.row is not None else []
        rowcount = cursor.rowcount
    finally:
        cursor.close()
    if rows:
        make, results = plan.row, plan.results
        rows = [make(*[v if p is None or v is None else p(v) for v, p in zip(r, results)]) for r in rows]
    return FastResult(rows, rowcount)


def executemany(cursor: Any, dialect: Dialect, statement: ClauseElement, rows: list[dict[str, Any]]) -> None:
    """cursor.executemany for a statement without results, on a sqlite3 cursor the caller holds (and
    whose transaction it runs): compiled once, every row's values through SQLAlchemy's bind
    processors. Every row gives the same parameter names. Raises ValueError for a statement that
    needs SQLAlchemy at execution (see the module's docstring)."""
    if not rows:
        return
    plan = _cached_plan(statement, dialect, frozenset(rows[0]))
    if not isinstance(plan, _Plan) or plan.row is not None:
        raise ValueError("executemany: this statement needs conn.execute (a default computed at execution, "
                         "a parameter not given, or rows to return)")
    cursor.executemany(plan.sql, [_values(plan, r) for r in rows])


_keep_alive: list[ClauseElement] = []
