"""Producer id allocation (InitProducerId), persisted in blocks so ids never repeat."""

from __future__ import annotations

import os
from pathlib import Path

BLOCK_SIZE = 1000


class CorruptProducerIdBlock(OSError):
    """The persisted block end cannot be read. Starting again from 0 would hand out ids that
    producer state in the logs already holds, so the broker refuses to start."""


class ProducerIdManager:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / ".producer-id-block"
        self._block_end = self._read_block_end()
        # Ids handed out before a restart are below the persisted block end.
        self._next = self._block_end

    def _read_block_end(self) -> int:
        """0 for a data directory that never allocated an id; CorruptProducerIdBlock if unreadable."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptProducerIdBlock(f"cannot read {self.path}: {exc}") from None
        try:
            block_end = int(text.strip())
        except ValueError:
            block_end = -1
        if block_end < 0:
            raise CorruptProducerIdBlock(
                f"{self.path} is corrupt ({text[:40]!r}): refusing to start, since new producer ids could "
                "collide with producer state in the logs. Restore the file, or write into it a number above "
                "every producer id in use (`schemabus log dump` shows them)")
        return block_end

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
