"""Reading the event log: Auth0's query syntax (/api/v2/logs, the dashboard's Logs page) and
the live tail (`keyturn logs tail`, the dashboard's server-sent events).

Every worker and instance writes to the same table, so a tail reads it again and again. An
event is dated when recorded but visible when its transaction commits, and workers commit
out of order: each read takes a trailing window and skips the events already seen.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from keyturn.domain.events import Event
from keyturn.errors import KeyturnError
from keyturn.store.protocols import ReadTx

_TERM = re.compile(r'(\w+):("[^"]*"|\[[^\]]*\]|\([^)]*\)|[^\s()]+)')
LATE_WRITE_WINDOW = timedelta(seconds=10)
WINDOW_LIMIT = 1000


class LogQuery:
    """The part of Auth0's Lucene query syntax that logs need: type, user_id, date ranges."""

    def __init__(self, q: str | None) -> None:
        self.types: tuple[str, ...] = ()
        self.user_id: str | None = None
        self.since: datetime | None = None
        self.until: datetime | None = None
        text = (q or "").strip()
        rest = _TERM.sub("", text).replace("AND", "").strip()
        if rest:
            raise KeyturnError(code="invalid_query_string", query=rest)
        for field, raw in _TERM.findall(text):
            value = raw.strip('"')
            if field == "type":
                self.types = tuple(v for v in re.split(r"\s+OR\s+|\s+", value.strip("()")) if v)
            elif field == "user_id":
                self.user_id = value
            elif field == "date":
                self.since, self.until = _date_range(value)
            else:
                raise KeyturnError(
                    code="invalid_query_string", message="invalid_query_string.field", field=field
                )


def _date(text: str) -> datetime | None:
    if text == "*":
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise KeyturnError(
            code="invalid_query_string", message="invalid_query_string.date", text=text
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date_range(value: str) -> tuple[datetime | None, datetime | None]:
    match = re.fullmatch(r"\[(\S+) TO (\S+)\]", value)
    if match is None:
        raise KeyturnError(code="invalid_query_string", message="invalid_query_string.date_range")
    return _date(match.group(1)), _date(match.group(2))


class EventTail:
    """New events, each once, in commit-tolerant order: `start` returns the last few and marks
    what is already there as history; each `poll` returns what appeared since."""

    def __init__(self, *, types: tuple[str, ...] = (), user_id: str | None = None) -> None:
        self.types = types
        self.user_id = user_id
        self._seen: dict[str, datetime] = {}
        self._newest: datetime | None = None

    async def _window(self, reader: ReadTx, since: datetime | None) -> list[Event]:
        found, _ = await reader.query_events(
            types=self.types, user_id=self.user_id, since=since, limit=WINDOW_LIMIT, newest_first=False
        )
        return found

    async def start(self, reader: ReadTx, *, last: int, after_log_id: str | None = None) -> list[Event]:
        """The `last` events (or, resuming, those after `after_log_id`), oldest first."""
        if after_log_id is not None:
            recent, _ = await reader.query_events(
                types=self.types, user_id=self.user_id, after_log_id=after_log_id, limit=WINDOW_LIMIT,
                newest_first=False,
            )  # fmt: skip
        elif last:
            newest_first, _ = await reader.query_events(
                types=self.types, user_id=self.user_id, limit=last, newest_first=True
            )
            recent = list(reversed(newest_first))
        else:
            recent = []
        self._mark(recent)
        if self._newest is None:
            latest, _ = await reader.query_events(limit=1, newest_first=True)
            self._newest = latest[0].date if latest else None
        if self._newest is not None:  # what is already there beyond `last` is history, not news
            self._mark(await self._window(reader, self._newest - LATE_WRITE_WINDOW))
        return recent

    async def poll(self, reader: ReadTx) -> list[Event]:
        since = self._newest - LATE_WRITE_WINDOW if self._newest else None
        fresh = [e for e in await self._window(reader, since) if e.log_id not in self._seen]
        self._mark(fresh)
        if self._newest is not None:
            cutoff = self._newest - LATE_WRITE_WINDOW
            self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}
        return fresh

    def _mark(self, found: list[Event]) -> None:
        for event in found:
            self._seen[event.log_id] = event.date
            if self._newest is None or event.date > self._newest:
                self._newest = event.date
