"""GlobalKTable: a topic read whole by every instance into a store (the runtime is in
streams/global_state.py); streams join it by any key, no co-partitioning needed."""

from __future__ import annotations


class GlobalKTable:
    def __init__(self, store_name: str, topic: str):
        self.store_name, self.topic = store_name, topic

    def queryable_store_name(self) -> str:
        return self.store_name
