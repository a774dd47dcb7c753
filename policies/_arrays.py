"""Item fields as numpy arrays: moved to :mod:`agentmem._frame` (core); this keeps the old path."""

from agentmem._frame import NEVER, Frame, ages, read_columns, read_frame, seconds, to_seconds

__all__ = ["NEVER", "Frame", "ages", "read_columns", "read_frame", "seconds", "to_seconds"]
