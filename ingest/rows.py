"""Consecutive frames of one stream in preallocated numpy arrays (pure code, no Kafka).

The windower keeps each stream's frames here rather than as one Python object per frame:
the final frames of the current segment (what windows are cut from) and the in-order frames
still held for the grace wait. Frames are appended at the end and dropped at the front; when
the arrays are full the live rows move back to the front (or the arrays double), so appending
costs one row copy per frame on average and a window is one slice.

Row r of the live part holds frame number `first + r`; the rows are always consecutive frame
numbers (gaps are filled or close the segment before a frame is appended).
"""

from __future__ import annotations

import numpy as np


class FrameRows:
    """Frames first .. first + len - 1: joints (J, 3) float32, capture time (int64), source
    offset (int64, the caller's "none" value included) and whether the frame was filled in."""

    __slots__ = ("joints", "times", "offsets", "synthetic", "lo", "hi", "first")

    def __init__(self, joint_shape: tuple[int, ...], capacity: int = 64) -> None:
        capacity = max(1, capacity)
        self.joints = np.empty((capacity, *joint_shape), np.float32)  # (C, J, 3)
        self.times = np.empty(capacity, np.int64)
        self.offsets = np.empty(capacity, np.int64)
        self.synthetic = np.zeros(capacity, bool)
        self.lo = self.hi = 0  # live rows are [lo, hi)
        self.first = 0  # frame number of row lo

    def __len__(self) -> int:
        return self.hi - self.lo

    @property
    def last(self) -> int:
        """Frame number of the last live row (first - 1 when empty)."""
        return self.first + self.hi - self.lo - 1

    def clear(self, first: int = 0) -> None:
        self.lo = self.hi = 0
        self.first = first

    def drop_front(self, n: int) -> None:
        """Forget the first n frames (n <= len)."""
        self.lo += n
        self.first += n
        if self.lo == self.hi:
            self.lo = self.hi = 0

    def append(self, joints: np.ndarray, times: np.ndarray, offsets: np.ndarray | int,
               synthetic: bool = False) -> None:
        """Append frames last + 1 .. last + n. joints: (n, J, 3), times: (n,), offsets: (n,)
        or one offset for all."""
        n = len(joints)
        self._room(n)
        rows = slice(self.hi, self.hi + n)
        self.joints[rows] = joints
        self.times[rows] = times
        self.offsets[rows] = offsets
        self.synthetic[rows] = synthetic
        self.hi += n

    def append_one(self, joints: np.ndarray, time: int, offset: int) -> None:
        """Append one captured frame. joints: (J, 3)."""
        if self.hi == len(self.times):
            self._room(1)
        h = self.hi
        self.joints[h] = joints
        self.times[h] = time
        self.offsets[h] = offset
        self.synthetic[h] = False
        self.hi = h + 1

    def rows(self, first: int, last: int) -> slice:
        """Array rows of frames first .. last (inclusive), which must be live."""
        lo = self.lo + first - self.first
        return slice(lo, lo + last - first + 1)

    def _room(self, n: int) -> None:
        capacity = len(self.times)
        if self.hi + n <= capacity:
            return
        count = self.hi - self.lo
        live = slice(self.lo, self.hi)
        if count + n <= capacity:  # move the live rows to the front (numpy copies overlaps)
            for arr in (self.joints, self.times, self.offsets, self.synthetic):
                arr[:count] = arr[live]
        else:
            size = max(2 * capacity, count + n)
            for name in self.__slots__[:4]:
                old = getattr(self, name)
                new = np.empty((size, *old.shape[1:]), old.dtype)
                new[:count] = old[live]
                setattr(self, name, new)
        self.lo, self.hi = 0, count
