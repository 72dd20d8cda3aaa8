"""Producer id allocation (InitProducerId), persisted in blocks so ids never repeat."""

from __future__ import annotations

import os
from pathlib import Path

BLOCK_SIZE = 1000


class ProducerIdManager:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / ".producer-id-block"
        try:
            self._block_end = int(self.path.read_text().strip())
        except (OSError, ValueError):
            self._block_end = 0
        # Ids handed out before a restart are below the persisted block end.
        self._next = self._block_end

    def _reserve_block(self) -> None:
        self._block_end = self._next + BLOCK_SIZE
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(str(self._block_end))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def next_id(self) -> int:
        if self._next >= self._block_end:
            self._reserve_block()
        pid = self._next
        self._next += 1
        return pid
