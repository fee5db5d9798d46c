"""Sessions of the web app: one :class:`mien.session.Session` per uploaded photo, kept in
memory in a thread-safe LRU: ``max_sessions`` of them (more only while they are in use:
a session used in the last ``grace`` seconds is not dropped for the count, up to
``hard_cap``), at most ``max_bytes`` of photo pixels together (the newest session is
always kept), each dropped after ``ttl`` seconds idle.

The grace keeps 50 clients editing at once working (a strict 32 dropped the sessions of
the first 18 while they were still moving sliders: 249 errors in
``benchmarks/web_load.py``); memory stays bounded by the byte budget and the cap.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ..io import Photo
from ..session import Session
from .uploads import ApiError


@dataclass(eq=False)
class Entry:
    """One uploaded photo and its session.

    Attributes:
        id: the session id (random, URL-safe).
        session: the analysed photo.
        photo: the decoded photo (format and metadata, for writing renders like the CLI).
        stem: the client's file name, made safe (download names only).
        newest_seq: the newest preview ``seq`` seen; older previews are skipped.
    """

    id: str
    session: Session
    photo: Photo
    stem: str
    last_used: float = 0.0
    newest_seq: int | None = None
    display: tuple[bytes, float] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def nbytes(self) -> int:
        """Bytes of the photo's pixels held (the session's copy and the decoded photo's)."""
        arrays = {id(a): a for a in (getattr(self.session, "pixels", None), getattr(self.photo, "pixels", None),
                                     getattr(self.photo, "alpha", None)) if a is not None}
        return sum(a.nbytes for a in arrays.values())

    def note_seq(self, seq: int | None) -> bool:
        """Record a preview's ``seq``; ``False`` if a newer one was seen already."""
        if seq is None:
            return True
        with self.lock:
            if self.newest_seq is not None and seq < self.newest_seq:
                return False
            self.newest_seq = seq
            return True

    def is_stale(self, seq: int | None) -> bool:
        """Whether a newer preview than ``seq`` has been asked for since."""
        with self.lock:
            return seq is not None and self.newest_seq is not None and seq < self.newest_seq


class SessionStore:
    """Thread-safe LRU of :class:`Entry` by id.

    Args:
        max_sessions: sessions kept; beyond it the least recently used are dropped once
            they have been idle for ``grace`` seconds.
        ttl: seconds a session may stay unused before it is dropped.
        max_bytes: most bytes of photo pixels kept (a 12 MP 8-bit photo is 36 MB); least
            recently used sessions are dropped beyond it, in use or not, except the newest.
        grace: seconds after its last use during which a session is not dropped for the count.
        hard_cap: most sessions kept, in use or not (default ``4 * max_sessions``).
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(self, max_sessions: int = 32, ttl: float = 3600.0, max_bytes: int = 2_000_000_000,
                 grace: float = 120.0, hard_cap: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self.grace = grace
        self.hard_cap = max(hard_cap if hard_cap is not None else 4 * max_sessions, max_sessions)
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _expire(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now - e.last_used > self.ttl]:
            del self._entries[key]

    def add(self, session: Session, photo: Photo, stem: str) -> Entry:
        """Keep a new session; returns its entry (with a fresh id)."""
        now = self.clock()
        entry = Entry(secrets.token_urlsafe(12), session, photo, stem, now)
        with self._lock:
            self._expire(now)
            self._entries[entry.id] = entry
            self._evict(now)
        return entry

    def _evict(self, now: float) -> None:
        """Drop least recently used sessions while over the budget, the cap, or the count
        (for the count, only sessions idle for ``grace`` seconds)."""
        total = sum(e.nbytes for e in self._entries.values())
        while len(self._entries) > 1:
            oldest = next(iter(self._entries.values()))
            n = len(self._entries)
            if not (total > self.max_bytes or n > self.hard_cap
                    or (n > self.max_sessions and now - oldest.last_used >= self.grace)):
                return
            total -= oldest.nbytes
            self._entries.popitem(last=False)

    def get(self, sid: str, what: str = "session") -> Entry:
        """The entry of ``sid``, marked used.

        Raises:
            ApiError: 404 unknown or expired.
        """
        now = self.clock()
        with self._lock:
            self._expire(now)
            entry = self._entries.get(sid)
            if entry is None:
                raise ApiError(404, f"unknown {what} {sid!r}: it expired or was never uploaded; upload the photo "
                               "again", param=what)
            entry.last_used = now
            self._entries.move_to_end(sid)
            return entry

    def delete(self, sid: str) -> None:
        """Drop ``sid``.

        Raises:
            ApiError: 404 unknown.
        """
        with self._lock:
            if self._entries.pop(sid, None) is None:
                raise ApiError(404, f"unknown session {sid!r}", param="session")
