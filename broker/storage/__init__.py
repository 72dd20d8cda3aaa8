"""On-disk partition logs: segments with sparse indexes, retention and compaction."""

from .cleaner import CleanJob, CleanResult, run_clean
from .config import LogConfig
from .log import Log, OffsetOutOfRange

__all__ = ["CleanJob", "CleanResult", "Log", "LogConfig", "OffsetOutOfRange", "run_clean"]
