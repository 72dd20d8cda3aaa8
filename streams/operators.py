"""The processors behind the DSL's operations (Kafka's KStreamFilter, KStreamMap, KStreamAggregate,
KTableSource, ...). Tables forward `Change(new, old)` values between their processors; a table
turned into a stream forwards the new values."""

from __future__ import annotations

import inspect
import logging
from typing import Callable

from streams.processor import Change, Processor, Record
from streams.windows import Window, Windowed

log = logging.getLogger("streams.dsl")


def takes_key(fn: Callable) -> bool:
    """Whether a value function wants (key, value) rather than (value): Kafka's ValueMapper vs
    ValueMapperWithKey overloads, told apart by the number of required positional parameters."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2


# -- stateless stream operations --------------------------------------------------------------

class Filter(Processor):
    def __init__(self, predicate: Callable, negate: bool = False):
        self.predicate, self.negate = predicate, negate

    def process(self, record: Record) -> None:
        if bool(self.predicate(record.key, record.value)) != self.negate:
            self.context.forward(record)


class Map(Processor):
    """fn(key, value) -> (new_key, new_value)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def process(self, record: Record) -> None:
        key, value = self.fn(record.key, record.value)
        self.context.forward(Record(key, value, record.timestamp, record.headers))


class MapValues(Processor):
    """fn(value), or fn(key, value) when with_key."""

    def __init__(self, fn: Callable, with_key: bool):
        self.fn, self.with_key = fn, with_key

    def process(self, record: Record) -> None:
        value = self.fn(record.key, record.value) if self.with_key else self.fn(record.value)
        self.context.forward(Record(record.key, value, record.timestamp, record.headers))


class FlatMap(Processor):
    """fn(key, value) -> iterable of (key, value)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def process(self, record: Record) -> None:
        forward, ts, headers = self.context.forward, record.timestamp, record.headers
        for key, value in self.fn(record.key, record.value) or ():
            forward(Record(key, value, ts, headers))


class FlatMapValues(Processor):
    def __init__(self, fn: Callable, with_key: bool):
        self.fn, self.with_key = fn, with_key

    def process(self, record: Record) -> None:
        values = self.fn(record.key, record.value) if self.with_key else self.fn(record.value)
        forward, key, ts, headers = self.context.forward, record.key, record.timestamp, record.headers
        for value in values or ():
            forward(Record(key, value, ts, headers))


class SelectKey(Processor):
    def __init__(self, fn: Callable):
        self.fn = fn

    def process(self, record: Record) -> None:
        self.context.forward(Record(self.fn(record.key, record.value), record.value, record.timestamp,
                                    record.headers))


class Peek(Processor):
    """peek forwards after calling fn; foreach (forward=False) is terminal."""

    def __init__(self, fn: Callable, forward: bool = True):
        self.fn, self.forward = fn, forward

    def process(self, record: Record) -> None:
        self.fn(record.key, record.value)
        if self.forward:
            self.context.forward(record)


class PassThrough(Processor):
    def process(self, record: Record) -> None:
        self.context.forward(record)


class Branch(Processor):
    """Each record goes to the first branch whose predicate holds (or the default branch)."""

    def __init__(self, predicates: list[tuple[Callable | None, str]]):
        self.predicates = predicates

    def process(self, record: Record) -> None:
        for predicate, child in self.predicates:
            if predicate is None or predicate(record.key, record.value):
                self.context.forward(record, child)
                return


class DropNullKeys(Processor):
    """Before a repartition topic: records without a key cannot be grouped (Kafka drops them)."""

    def process(self, record: Record) -> None:
        if record.key is not None:
            self.context.forward(record)


# -- aggregations and tables ------------------------------------------------------------------

class _TableWriter(Processor):
    """Writes to its store and forwards Change(new, old): at once, or at cache flush when the
    store caches (one update per key per commit)."""

    def __init__(self, store_name: str):
        self.store_name = store_name

    def init(self, context) -> None:
        super().init(context)
        self.store = context.get_state_store(self.store_name)
        self.cached = self.store.set_flush_listener(self._flushed)

    def _flushed(self, key, new, old, timestamp) -> None:
        self.context.forward(Record(self._table_key(key), Change(new, old), timestamp))

    def _update(self, key, new, old, record: Record) -> None:
        self.store.put(key, new, record.timestamp)
        if not self.cached:
            self.context.forward(Record(self._table_key(key), Change(new, old), record.timestamp, record.headers))

    def _table_key(self, store_key):
        """The key downstream sees for a key of the store."""
        return store_key


class Aggregate(_TableWriter):
    """aggregator(key, value, aggregate) -> aggregate, from initializer() for a new key."""

    def __init__(self, store_name: str, initializer: Callable, aggregator: Callable):
        super().__init__(store_name)
        self.initializer, self.aggregator = initializer, aggregator

    def process(self, record: Record) -> None:
        key = record.key
        if key is None or record.value is None:
            log.debug("Skipping record due to null key or value. topic/offset: %s", self.context.record_metadata())
            return
        old = self.store.get(key)
        new = self.aggregator(key, record.value, self.initializer() if old is None else old)
        self._update(key, new, old, record)


class Reduce(_TableWriter):
    """reducer(aggregate, value) -> aggregate; the first value of a key is its aggregate."""

    def __init__(self, store_name: str, reducer: Callable):
        super().__init__(store_name)
        self.reducer = reducer

    def process(self, record: Record) -> None:
        key = record.key
        if key is None or record.value is None:
            return
        old = self.store.get(key)
        new = record.value if old is None else self.reducer(old, record.value)
        self._update(key, new, old, record)


class WindowAggregate(_TableWriter):
    """Aggregates each record into every time window containing it (Kafka's
    KStreamWindowAggregate); the store's keys are (key, window start), the table's Windowed keys.
    A record for a window already closed (its end + grace at or before the stream time this
    processor observed) is dropped as late."""

    def __init__(self, store_name: str, windows, initializer: Callable, aggregator: Callable):
        super().__init__(store_name)
        self.windows, self.initializer, self.aggregator = windows, initializer, aggregator
        self.observed = -1
        self.expired_until = -1

    def process(self, record: Record) -> None:
        key, value, timestamp = record.key, record.value, record.timestamp
        if key is None or value is None:
            return
        if timestamp > self.observed:
            self.observed = timestamp
        close_time = self.observed - self.windows.grace_ms
        for window in self.windows.windows_for(timestamp):
            if window.end <= close_time:
                log.warning("Skipping record for expired window. key=[%s] timestamp=[%d] window=[%d,%d) "
                            "expiration=[%d]", key, timestamp, window.start, window.end, close_time)
                continue
            store_key = (key, window.start)
            old = self.store.get(store_key)
            new = self.aggregator(key, value, self.initializer() if old is None else old)
            self._update(store_key, new, old, record)
        retained_from = self.observed - self.windows.retention_ms()
        if retained_from - self.expired_until >= max(self.windows.size_ms, 1000):
            self.store.expire_windows_before(retained_from)
            self.expired_until = retained_from

    def _table_key(self, store_key):
        key, start = store_key
        return Windowed(key, Window(start, start + self.windows.size_ms))


class SlidingWindowAggregate(_TableWriter):
    """Sliding-window aggregation (Kafka's KStreamSlidingWindowAggregate). The windows that
    already hold a record's time take it in (aggregator(key, value, aggregate)); the windows it
    brings into being (its own left window, its right window when a later record is already
    there, the right window of the record before it) are aggregated from the records
    themselves, which a companion store (`<store>-records`) keeps for the windows' retention.
    Kafka derives new windows from neighbouring windows' aggregates instead: results are the
    same for any aggregation whose result does not depend on arrival order (count, sum, min...)."""

    def __init__(self, store_name: str, windows, initializer: Callable, aggregator: Callable):
        super().__init__(store_name)
        self.windows, self.initializer, self.aggregator = windows, initializer, aggregator
        self.observed = -1
        self.expired_until = -1
        self.seq = 0

    def init(self, context) -> None:
        super().init(context)
        self.records = context.get_state_store(sliding_records_store(self.store_name))

    def process(self, record: Record) -> None:
        key, value, t = record.key, record.value, record.timestamp
        if key is None or value is None:
            return
        difference = self.windows.time_difference_ms
        self.observed = max(self.observed, t)
        close_time = self.observed - self.windows.grace_ms
        if t + 1 + difference <= close_time:
            log.warning("Skipping record for expired window. key=[%s] timestamp=[%d] window=[%d,%d] "
                        "expiration=[%d] streamTime=[%d]", key, t, t - difference, t, close_time, self.observed)
            return
        metadata = self.context.record_metadata()
        self.seq = metadata.offset if metadata is not None else self.seq + 1
        self.records.put((key, t, self.seq), value, t)
        left = max(0, t - difference)  # records before `difference` share the window [0, difference]
        existing = {start: aggregate for (k, start), aggregate in self.store.range((key, left), (key, t))
                    if k == key}
        for start, aggregate in existing.items():
            if self._open(key, start, close_time):
                self._update((key, start), self.aggregator(key, value, aggregate), aggregate, record)
        if left not in existing:
            self._create(key, left, close_time, record)
        right = t + 1
        if self.store.get((key, right)) is None and self._times(key, right, right + difference):
            self._create(key, right, close_time, record)
        earlier = self._times(key, t - difference - 1, t - 1)
        if earlier and earlier[-1] + 1 not in existing and earlier[-1] + 1 != left:
            self._create(key, earlier[-1] + 1, close_time, record)  # the previous record's right window
        self._expire()

    def _open(self, key, start: int, close_time: int) -> bool:
        end = start + self.windows.time_difference_ms
        if end >= close_time:
            return True
        log.warning("Skipping record for expired window. key=[%s] window=[%d,%d] expiration=[%d] streamTime=[%d]",
                    key, start, end, close_time, self.observed)
        return False

    def _create(self, key, start: int, close_time: int, record: Record) -> None:
        if not self._open(key, start, close_time):
            return
        end = start + self.windows.time_difference_ms
        aggregate = self.initializer()
        for (k, ts, _), value in self.records.range((key, start, 0), (key, end, 0xFFFFFFFF)):
            if k == key and start <= ts <= end:
                aggregate = self.aggregator(key, value, aggregate)
        self._update((key, start), aggregate, None, record)

    def _times(self, key, low: int, high: int) -> list[int]:
        """The timestamps of the key's records in [low, high], in order."""
        return [ts for (k, ts, _), _ in self.records.range((key, max(low, 0), 0), (key, max(high, 0), 0xFFFFFFFF))
                if k == key and low <= ts <= high]

    def _expire(self) -> None:
        retained_from = self.observed - self.windows.retention_ms()
        if retained_from - self.expired_until >= max(self.windows.time_difference_ms, 1000):
            self.records.expire_windows_before(retained_from)
            self.store.expire_windows_before(retained_from)
            self.expired_until = retained_from

    def _table_key(self, store_key):
        key, start = store_key
        return Windowed(key, Window(start, start + self.windows.time_difference_ms))


def sliding_records_store(store_name: str) -> str:
    return f"{store_name}-records"


class StreamGlobalTableJoin(Processor):
    """Each record joined with the global table's value for key_selector(key, value) (Kafka's
    KStreamGlobalKTableJoin); without one, inner drops the record, left joins with None."""

    def __init__(self, store_name: str, key_selector: Callable, joiner: Callable, left: bool):
        self.store_name, self.key_selector, self.joiner, self.left = store_name, key_selector, joiner, left

    def init(self, context) -> None:
        super().init(context)
        self.store = context.get_state_store(self.store_name)

    def process(self, record: Record) -> None:
        if record.value is None:
            return
        lookup = self.key_selector(record.key, record.value)
        other = self.store.get(lookup) if lookup is not None else None
        if other is None and not self.left:
            return
        self.context.forward(record.with_value(self.joiner(record.value, other)))


class StreamStreamJoin(Processor):
    """One side of a windowed stream-stream join (Kafka's KStreamKStreamJoin). Each record is
    kept in this side's store and joined with the other side's records of the same key within
    the join window; a record later than the window and grace allow is dropped. For left and
    outer joins, a record that found no partner waits in a shared store and is emitted with None
    only once its window has closed, so no spurious half-joined result is ever sent (KIP-633)."""

    def __init__(self, this_store: str, other_store: str, unmatched_store: str | None, windows, joiner: Callable,
                 this_is_left: bool, emit_unmatched: bool):
        self.this_store, self.other_store, self.unmatched_store = this_store, other_store, unmatched_store
        self.windows, self.joiner, self.this_is_left, self.emit_unmatched = windows, joiner, this_is_left, \
            emit_unmatched
        self.seq = 0
        self.expired_until = -1

    def init(self, context) -> None:
        super().init(context)
        self.mine = context.get_state_store(self.this_store)
        self.other = context.get_state_store(self.other_store)
        self.unmatched = context.get_state_store(self.unmatched_store) if self.unmatched_store else None
        if self.unmatched is not None and not hasattr(self.unmatched, "emit_due"):
            self.unmatched.emit_due = -1  # restored records may be due: look once

    def process(self, record: Record) -> None:
        key, value, ts = record.key, record.value, record.timestamp
        if key is None or value is None:
            return
        windows = self.windows
        stream_time = self.context.current_stream_time_ms()
        if ts < stream_time - windows.retention_ms():
            log.warning("Skipping record due to expired window. key=[%s] timestamp=[%d] streamTime=[%d]", key, ts,
                        stream_time)
            return
        metadata = self.context.record_metadata()
        self.seq = metadata.offset if metadata is not None else self.seq + 1
        self.mine.put((key, ts, self.seq), value, ts)
        low, high = (ts - windows.before_ms, ts + windows.after_ms) if self.this_is_left else \
            (ts - windows.after_ms, ts + windows.before_ms)
        matched = False
        for (other_key, other_ts, other_seq), other_value in self.other.range((key, low, 0), (key, high, 0xFFFFFFFF)):
            if other_key != key or not low <= other_ts <= high:
                continue
            matched = True
            left, right = (value, other_value) if self.this_is_left else (other_value, value)
            self.context.forward(Record(key, self.joiner(left, right), max(ts, other_ts), record.headers))
            if self.unmatched is not None:
                self.unmatched.delete((key, other_ts, other_seq, not self.this_is_left))
        if not matched and self.emit_unmatched:
            self.unmatched.put((key, ts, self.seq, self.this_is_left), (self.this_is_left, value), ts)
            due = ts + (windows.after_ms if self.this_is_left else windows.before_ms) + windows.grace_ms
            # The earliest time an unmatched record may be emitted, shared by both sides of the
            # join through their common store, so neither scans it for every record.
            self.unmatched.emit_due = min(getattr(self.unmatched, "emit_due", due), due)
        if self.unmatched is not None and stream_time > getattr(self.unmatched, "emit_due", stream_time):
            self._emit_unmatched(stream_time)
        if stream_time - windows.retention_ms() - self.expired_until >= max(windows.retention_ms(), 1000):
            self.expired_until = stream_time - windows.retention_ms()
            self.mine.expire_windows_before(self.expired_until)

    def _emit_unmatched(self, stream_time: int) -> None:
        """Records whose window closed without a partner: (value, None) or (None, value)."""
        windows = self.windows
        closed, next_due = [], None
        for (key, ts, seq, is_left), (_, value) in self.unmatched.all():
            due = ts + (windows.after_ms if is_left else windows.before_ms) + windows.grace_ms
            if due < stream_time:
                closed.append((key, ts, seq, is_left, value))
            else:
                next_due = due if next_due is None else min(next_due, due)
        if next_due is None:
            self.unmatched.__dict__.pop("emit_due", None)
        else:
            self.unmatched.emit_due = next_due
        for key, ts, seq, is_left, value in sorted(closed, key=lambda c: c[1]):
            self.unmatched.delete((key, ts, seq, is_left))
            joined = self.joiner(value, None) if is_left else self.joiner(None, value)
            self.context.forward(Record(key, joined, ts))


class SessionWindowAggregate(_TableWriter):
    """Session windows (Kafka's KStreamSessionWindowAggregate): a record merges every session of
    its key it falls within `gap` of into one (merger(key, agg1, agg2)), then aggregates into it.
    The merged-away sessions are deleted (forwarded as Change(None, old)). A record whose session
    would end before stream time - gap - grace is dropped as late. Store keys: (key, start, end)."""

    def __init__(self, store_name: str, windows, initializer: Callable, aggregator: Callable, merger: Callable):
        super().__init__(store_name)
        self.windows, self.initializer, self.aggregator, self.merger = windows, initializer, aggregator, merger
        self.observed = -1

    def process(self, record: Record) -> None:
        key, value, ts = record.key, record.value, record.timestamp
        if key is None or value is None:
            return
        if ts > self.observed:
            self.observed = ts
        gap = self.windows.gap_ms
        start, end, aggregate, merged = ts, ts, None, []
        for (k, s, e), agg in self.store.range((key, 0, ts - gap), (key, 0x7FFFFFFFFFFFFFFF, 0x7FFFFFFFFFFFFFFF)):
            if k != key or s > ts + gap or e < ts - gap:
                continue
            merged.append(((k, s, e), agg))
            start, end = min(start, s), max(end, e)
            aggregate = agg if aggregate is None else self.merger(key, aggregate, agg)
        if end < self.observed - gap - self.windows.grace_ms:
            log.warning("Skipping record for expired session. key=[%s] timestamp=[%d] window=[%d,%d]", key, ts,
                        start, end)
            return
        for session, agg in merged:
            if session != (key, start, end):
                self._update(session, None, agg, record)
        new = self.aggregator(key, value, self.initializer() if aggregate is None else aggregate)
        previous = next((agg for session, agg in merged if session == (key, start, end)), None)
        self._update((key, start, end), new, previous, record)

    def _table_key(self, store_key):
        key, start, end = store_key
        return Windowed(key, Window(start, end))


class SuppressUntilWindowCloses(Processor):
    """suppress(Suppressed.until_window_closes(...)): holds each windowed key's latest value and
    emits it once, when the stream time passes the window's end plus grace (Kafka's
    KTableSuppressProcessor). The buffer is a logged store, so a restart neither loses nor
    repeats a final result."""

    def __init__(self, store_name: str, grace_ms: int):
        self.store_name, self.grace_ms = store_name, grace_ms
        self.buffer: dict = {}  # windowed key -> (value, timestamp)
        self.min_end = None
        # The stream time of the updates this processor received, not the task's: a cached
        # update reaches it later than the records that made it.
        self.observed = -1

    def init(self, context) -> None:
        super().init(context)
        self.store = context.get_state_store(self.store_name)
        for (key, start, end), entry in self.store.all():
            self.buffer[Windowed(key, Window(start, end))] = entry
        self.min_end = min((k.window.end for k in self.buffer), default=None)
        self.observed = max((entry[1] for entry in self.buffer.values()), default=-1)

    def process(self, record: Record) -> None:
        windowed, new = record.key, record.value.new
        if record.timestamp > self.observed:
            self.observed = record.timestamp
        if new is None:
            self.buffer.pop(windowed, None)
            self.store.delete((windowed.key, windowed.window.start, windowed.window.end))
        else:
            self.buffer[windowed] = (new, record.timestamp)
            self.store.put((windowed.key, windowed.window.start, windowed.window.end), (new, record.timestamp))
            if self.min_end is None or windowed.window.end < self.min_end:
                self.min_end = windowed.window.end
        self._emit_closed(self.observed - self.grace_ms)

    def _emit_closed(self, close_time: int) -> None:
        if self.min_end is None or self.min_end > close_time:
            return
        closed = sorted((k for k in self.buffer if k.window.end <= close_time), key=lambda k: k.window.end)
        for windowed in closed:
            value, timestamp = self.buffer.pop(windowed)
            self.store.delete((windowed.key, windowed.window.start, windowed.window.end))
            self.context.forward(Record(windowed, Change(value, None), timestamp))
        self.min_end = min((k.window.end for k in self.buffer), default=None)


class TableGroupBySelect(Processor):
    """KTable.group_by: selector(key, value) -> (group key, value) for the old and the new value
    of each update; what leaves a group is sent as Change(None, old) to that group, what joins one
    as Change(new, None) (one record when the group stays the same)."""

    def __init__(self, selector: Callable):
        self.selector = selector

    def process(self, record: Record) -> None:
        change = record.value
        old = self.selector(record.key, change.old) if change.old is not None else None
        new = self.selector(record.key, change.new) if change.new is not None else None
        forward, ts = self.context.forward, record.timestamp
        if old is not None and new is not None and old[0] == new[0]:
            forward(Record(new[0], Change(new[1], old[1]), ts, record.headers))
            return
        if old is not None:
            forward(Record(old[0], Change(None, old[1]), ts, record.headers))
        if new is not None:
            forward(Record(new[0], Change(new[1], None), ts, record.headers))


class TableAggregate(_TableWriter):
    """KGroupedTable aggregations: subtractor(key, old, aggregate) for a value leaving the group,
    adder(key, new, aggregate) for one joining it (Kafka's KTableAggregate)."""

    def __init__(self, store_name: str, initializer: Callable, adder: Callable, subtractor: Callable):
        super().__init__(store_name)
        self.initializer, self.adder, self.subtractor = initializer, adder, subtractor

    def process(self, record: Record) -> None:
        key, change = record.key, record.value
        if key is None:
            return
        old = self.store.get(key)
        aggregate = self.initializer() if old is None else old
        if change.old is not None:
            aggregate = self.subtractor(key, change.old, aggregate)
        if change.new is not None:
            aggregate = self.adder(key, change.new, aggregate)
        self._update(key, aggregate, old, record)


class TableSource(_TableWriter):
    """A topic read as a table: each record upserts its key; a null value deletes it."""

    def process(self, record: Record) -> None:
        if record.key is None:
            return
        old = self.store.get(record.key)
        self._update(record.key, record.value, old, record)


class TableMaterialize(Processor):
    """Keeps a table's latest values in a store (for joins to look up), passing changes on."""

    def __init__(self, store_name: str):
        self.store_name = store_name

    def init(self, context) -> None:
        super().init(context)
        self.store = context.get_state_store(self.store_name)

    def process(self, record: Record) -> None:
        if record.key is not None:
            self.store.put(record.key, record.value.new, record.timestamp)
        self.context.forward(record)


class StreamTableJoin(Processor):
    """Each stream record joined with the table's current value for its key (Kafka's
    KStreamKTableJoin); without one, an inner join drops the record, a left join joins with None."""

    def __init__(self, store_name: str, joiner: Callable, left: bool):
        self.store_name, self.joiner, self.left = store_name, joiner, left

    def init(self, context) -> None:
        super().init(context)
        self.store = context.get_state_store(self.store_name)

    def process(self, record: Record) -> None:
        if record.key is None or record.value is None:
            log.debug("Skipping record due to null join key or value. %s", self.context.record_metadata())
            return
        other = self.store.get(record.key)
        if other is None and not self.left:
            return
        self.context.forward(record.with_value(self.joiner(record.value, other)))


class TableTableJoin(Processor):
    """One side of a table-table join (Kafka's KTableKTable{Inner,Left,Outer}Join): a change on
    this side joined with the other side's current value. `mode`: inner, left or outer;
    `this_is_left` keeps the joiner's arguments in (left, right) order."""

    def __init__(self, other_store: str, joiner: Callable, mode: str, this_is_left: bool):
        self.other_store, self.joiner, self.mode, self.this_is_left = other_store, joiner, mode, this_is_left

    def init(self, context) -> None:
        super().init(context)
        self.other = context.get_state_store(self.other_store)

    def _join(self, mine, other):
        left, right = (mine, other) if self.this_is_left else (other, mine)
        if left is None and right is None:
            return None
        if self.mode == "inner" and (left is None or right is None):
            return None
        if self.mode == "left" and left is None:
            return None
        return self.joiner(left, right)

    def process(self, record: Record) -> None:
        if record.key is None:
            return
        other = self.other.get(record.key)
        change = record.value
        new, old = self._join(change.new, other), self._join(change.old, other)
        if new is not None or old is not None:
            self.context.forward(record.with_value(Change(new, old)))


class TableFilter(Processor):
    def __init__(self, predicate: Callable, negate: bool = False):
        self.predicate, self.negate = predicate, negate

    def _keep(self, key, value):
        if value is None:
            return None
        return value if bool(self.predicate(key, value)) != self.negate else None

    def process(self, record: Record) -> None:
        # A filtered-out update goes on as a delete, as Kafka's KTableFilter forwards it when
        # nothing downstream asks for old values: a reader of the table never keeps a stale row.
        change = record.value
        self.context.forward(record.with_value(Change(self._keep(record.key, change.new),
                                                      self._keep(record.key, change.old))))


class TableMapValues(Processor):
    def __init__(self, fn: Callable, with_key: bool):
        self.fn, self.with_key = fn, with_key

    def _map(self, key, value):
        if value is None:
            return None
        return self.fn(key, value) if self.with_key else self.fn(value)

    def process(self, record: Record) -> None:
        change = record.value
        self.context.forward(record.with_value(Change(self._map(record.key, change.new),
                                                      self._map(record.key, change.old))))


class TableToStream(Processor):
    """fn(key, value) -> new key, when given."""

    def __init__(self, fn: Callable | None = None):
        self.fn = fn

    def process(self, record: Record) -> None:
        new = record.value.new
        key = self.fn(record.key, new) if self.fn is not None else record.key
        self.context.forward(Record(key, new, record.timestamp, record.headers))
