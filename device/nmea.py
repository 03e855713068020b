"""NMEA stage: raw receiver bytes -> framed sentences -> one `Fix` per epoch.

Pipeline inside this module:

    bytes --LineFramer--> candidate lines --FixAssembler--> Fix (one per receiver epoch)

Counting: every line (a framed candidate, or a line of garbage between candidates; blank lines
are not lines) is counted once in a `SkipCounter`: `sentences == used + sum(skipped)` once the
last epoch is flushed. A line of a type we decode is first checked on its own (checksum, fields,
status); if it passes it joins its epoch and shares the epoch's fate: `used` when the epoch
becomes a Fix, else the epoch's reason (`EPOCH_REASONS`, e.g. "stale", "no_date"). Nothing here
raises on bad input: input errors are `device.errors.NmeaError` subclasses, and
`SkipCounter.reject` is the one place that decides what they do (count them, log at debug level
with the sentence type only, never a position).

Epochs: sentences with the same UTC time of day form one epoch, whatever their talker (GP, GN,
GL, GA, GB, BD, IN, ...). Position from RMC, else GGA, else GLL; speed/course from RMC, else VTG;
HDOP, satellites and quality from GGA; the date from RMC (status A), else ZDA, else carried from
the last dated epoch (GGA-only receivers, rolled over at midnight). An RMC/GLL status V, mode
N/M/S or GGA quality 0/7/8 vetoes its whole epoch. Fixes come out in strictly increasing time.

Dates: the GPS week rollover guard adds 1024 weeks to dates before `min_date` and flags the Fix
"date_corrected". On a car use LIVE_MIN_DATE (the release year); to replay the historical
recordings in tests/data/nmea use RECORDING_MIN_DATE, or they are all "corrected" into the future.

Speed: we decide the sentence type from the raw bytes before any checksum or parse (a type we do
not use is only counted); a used line's checksum is one plain XOR loop; the common RMC is taken by
one regex match, everything else with plain `str.split`. pynmea2's parse plus its lat/lon properties cost ~12 us per sentence,
which alone would eat the pipeline's budget. The test suite checks our decoding against
`pynmea2.parse(line, check=True)` on every recording, and each fast path against the plain one.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

from device.errors import (
    BadChecksumError,
    BadDateError,
    DuplicateSentenceError,
    NmeaError,
    NoChecksumError,
    NoFixError,
    RejectedModeError,
    SentenceParseError,
)
from device.model import Fix

log = logging.getLogger(__name__)

# Why each line was not used. Stable keys: they appear in `ritbox status` and `replay --json`.
REASONS: tuple[str, ...] = (
    "not_nmea",  # garbage bytes/lines, binary (UBX), invalid address such as $GYOACC or $GSENSORD
    "too_long",  # a candidate longer than max_line (long proprietary $PMTKCHN/$PGLOR, run-on garbage)
    "unsupported_type",  # well-formed sentence of a type we do not use (GSV, GSA, $P..., !AIVDM)
    "no_checksum",  # a type we use, but without *hh (never trusted)
    "bad_checksum",  # *hh does not match
    "parse_error",  # good checksum, but fields that make no sense (truncated, out of range)
    "no_fix",  # receiver says invalid: RMC/GLL status V or mode N, GGA quality 0, empty position
    "rejected_mode",  # not a measurement: RMC/GLL mode M (manual) or S (simulator), GGA quality 7/8
    "bad_date",  # date before the GPS epoch, unparseable, or too many rollovers away
    "no_date",  # a position epoch without RMC/ZDA date and no earlier date to carry forward
    "stale",  # epoch time not after the last emitted fix (frozen timestamp, clock going back)
    "duplicate",  # same type twice in one epoch: logger repeats, $GLGGA after $GPGGA, a frozen
    # receiver repeating its last RMC with nothing else timed in between
)
# Reasons decided for a whole epoch: every accepted line of that epoch is counted under them.
EPOCH_REASONS: frozenset[str] = frozenset(
    {"no_fix", "rejected_mode", "bad_date", "no_date", "stale", "parse_error"}
)

# NMEA 0183 allows 82 characters; real receivers (u-blox NMEA 4.11, 8-decimal RTK) go beyond.
MAX_LINE = 120
# Live use: the software was released in 2026, so an earlier GPS date is a week-rollover artefact.
LIVE_MIN_DATE = date(2026, 1, 1)
# Replays of historical recordings (2005-2026 in tests/data/nmea) need an older floor.
RECORDING_MIN_DATE = date(2000, 1, 1)
GPS_EPOCH = date(1980, 1, 6)  # no GPS receiver can report an earlier date
MAX_DATE = date(2079, 12, 31)  # RMC years have two digits; we pivot 80..99 -> 19xx, 00..79 -> 20xx
ROLLOVER = timedelta(weeks=1024)  # the 10-bit GPS week counter wraps every 1024 weeks
MAX_ROLLOVERS = 2  # more than this and the date is noise, not a rollover
STALE_RESYNC = 30  # consecutive stale epochs after which we accept the receiver's new timeline

KNOT_KMH = 1.852
_DAY_MS = 86_400_000
_HALF_DAY_MS = _DAY_MS // 2
_ONE_DAY = timedelta(days=1)
_MS = timedelta(milliseconds=1)
_UTC = timezone.utc
_NO_FLAGS: frozenset[str] = frozenset()
# Fix.altitude_m is decoded at most once per this much fix time: only the plausibility check
# (device.trips, altitude change over 30 s) uses it, and a float per fix cost 2 % of the parse.
ALTITUDE_INTERVAL = timedelta(seconds=5)
_LONG_AGO = datetime(1, 1, 1, tzinfo=_UTC)
_UNSEEN = object()
# GGA's satellite count: every string of 1 to 3 ASCII digits and its value (any other is None).
_SATELLITES: dict[str, int] = {
    f"{n:0{width}d}": n for width in (1, 2, 3) for n in range(10**width)
}

# A candidate sentence: '$' or '!' then printable ASCII except the delimiters '$', '!' and '*',
# optionally closed by '*hh' ('*' or '*h' when the line was cut short: the checksum test rejects
# those). Anything after '*hh' on the same line is garbage, which lets us keep "$GPGSA,...*1E" from
# the glued "$GPGSA,...*1E0,*4E" in the gp-320fw recording.
_CANDIDATE_CHARS = rb"[\x20\x22\x23\x25-\x29\x2b-\x7e]"
_CANDIDATE = re.compile(rb"[$!]%s*(?:\*[0-9A-Fa-f]{0,2})?" % _CANDIDATE_CHARS)


def _bounded_candidate(max_line: int) -> re.Pattern[bytes]:
    """_CANDIDATE cut off so that no match is longer than `max_line` (for the framer's fast path:
    a longer candidate comes out truncated, which leaves bytes uncovered and so takes the exact
    path; a candidate within the limit comes out whole)."""
    return re.compile(rb"[$!]%s{0,%d}(?:\*[0-9A-Fa-f]{0,2})?" % (_CANDIDATE_CHARS, max(max_line - 4, 0)))
_LINE_BREAKS = re.compile(rb"[\r\n]+")
_QUIET_GAPS = frozenset({b"", b"\n", b"\r", b"\r\n", b"\n\n", b"\r\n\r\n", b"\r\r\n", b"\n\r\n"})


class SkipCounter:
    """Counts every line: `sentences` = `used` + sum(`skipped`) + lines of the still-open epoch."""

    __slots__ = ("sentences", "used", "skipped", "fixes")

    def __init__(self) -> None:
        self.sentences = 0
        self.used = 0
        self.fixes = 0
        self.skipped: dict[str, int] = dict.fromkeys(REASONS, 0)

    def skip(self, reason: str, n: int = 1) -> None:
        """Count `n` lines under `reason` (hot path: no logging)."""
        self.skipped[reason] += n

    def reject(self, err: NmeaError, n: int = 1) -> None:
        """The one place that decides what an input error does: count it, log it without data."""
        self.skipped[err.reason] += n
        if log.isEnabledFor(logging.DEBUG):
            # Only the type and the reason: messages and fields could carry a position.
            log.debug("skipped %s sentence: %s", err.sentence_type or "?", err.reason)

    def drop_epoch(self, reason: str, n: int) -> None:
        """An epoch that yields no Fix: its `n` accepted lines are counted under `reason`."""
        self.skipped[reason] += n
        if log.isEnabledFor(logging.DEBUG):
            log.debug("dropped epoch of %d lines: %s", n, reason)

    def stats(self) -> dict[str, object]:
        """`{"sentences": n, "used": n, "skipped": {reason: n}, "fixes": n}` for status and --json."""
        return {
            "sentences": self.sentences,
            "used": self.used,
            "skipped": dict(self.skipped),
            "fixes": self.fixes,
        }


class LineFramer:
    """Cuts a byte stream into candidate sentences and throws away (and counts) everything else.

    Resyncs on every '$' or '!', ends a candidate at '*hh', a line break, a control or non-ASCII
    byte. Holds at most `2 * max_line` bytes between calls, so garbage cannot grow memory.
    """

    def __init__(self, counter: SkipCounter | None = None, max_line: int = MAX_LINE) -> None:
        self.counter = counter if counter is not None else SkipCounter()
        self.max_line = max_line
        self._keep_max = 2 * max_line
        self._tail = b""
        self._bounded = _bounded_candidate(max_line)

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the candidates that are complete."""
        buf = self._tail + data if self._tail else bytes(data)
        if not buf:
            return []
        last = buf[-1]
        if last == 10 or last == 13:
            cut = len(buf)
        else:
            # Keep what may still be growing: the candidate after the last '$'/'!', or else the
            # unfinished line after the last line break (so a garbage line is counted once).
            brk = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
            start = max(buf.rfind(b"$"), buf.rfind(b"!"))
            cut = start if start > brk else brk + 1
            if len(buf) - cut > self._keep_max:
                cut = len(buf)  # nothing that long can become a sentence: decide now
        self._tail = buf[cut:]
        return self._frame(buf, cut)

    def flush(self) -> list[bytes]:
        """End of stream: whatever is held is framed as if a line break followed."""
        buf, self._tail = self._tail, b""
        return self._frame(buf, len(buf)) if buf else []

    def _frame(self, buf: bytes, end: int) -> list[bytes]:
        region = buf if end == len(buf) else buf[:end]
        # Fast path, all in C: when the candidates (none longer than max_line, by the pattern) and
        # the line breaks add up to the whole region, there is no garbage and nothing too long.
        # (A candidate of max_line - 3 .. max_line bytes without a whole '*hh' also takes the
        # exact path below: rare, and the exact path is always right.)
        cands = self._bounded.findall(region)
        if len(region) - len(b"".join(cands)) == region.count(b"\n") + region.count(b"\r"):
            return cands
        out: list[bytes] = []
        garbage = too_long = 0
        pos = 0
        max_line = self.max_line
        for m in _CANDIDATE.finditer(buf, 0, end):
            start = m.start()
            if start != pos:
                garbage += _garbage_lines(buf[pos:start])
            pos = m.end()
            if pos - start > max_line:
                too_long += 1
            else:
                out.append(m.group())
        if pos < end:
            garbage += _garbage_lines(buf[pos:end])
        if garbage or too_long:
            c = self.counter
            c.sentences += garbage + too_long
            c.skipped["not_nmea"] += garbage
            c.skipped["too_long"] += too_long
        return out


# '*hh' -> int for both cases of hex digits (Magellan writes lowercase); a dict beats int(x, 16).
_HEX: dict[bytes, int] = {
    hi + lo: v
    for v in range(256)
    for hi in {b"%X" % (v >> 4), b"%x" % (v >> 4)}
    for lo in {b"%X" % (v & 15), b"%x" % (v & 15)}
}


def _typ(line: bytes) -> str:
    """The sentence type for error messages (only for lines that passed type dispatch)."""
    return line[3:6].decode("ascii", "replace")


def _checksum(body: bytes) -> int:
    """The NMEA checksum: the XOR of the bytes between '$' and '*'. A plain loop: at 10 Hz the
    whole pipeline needs well under 1% of a core (benchmarks/device_pipeline.py)."""
    x = 0
    for b in body:
        x ^= b
    return x


def _garbage_lines(gap: bytes) -> int:
    """How many lines of garbage a stretch between candidates holds (blank lines are not counted)."""
    if gap in _QUIET_GAPS:
        return 0
    return sum(1 for piece in _LINE_BREAKS.split(gap) if piece.strip(b" \t"))


# --------------------------------------------------------------------------------------------
# Field decoding. Each helper raises an NmeaError subclass; none of them puts data in a message.


def _tod_ms(t: str, typ: str) -> int:
    """'hhmmss[.sss]' -> milliseconds of the UTC day."""
    if len(t) < 6 or not t[:6].isdigit():
        raise SentenceParseError("bad time field", typ)
    hms = int(t[:6])  # one int() instead of three
    h = hms // 10000
    m = hms // 100 % 100
    s = hms % 100
    frac = 0
    if len(t) > 6:
        rest = t[7:]
        if t[6] != "." or (rest and not rest.isdigit()):
            raise SentenceParseError("bad time field", typ)
        if rest:
            frac = int((rest + "000")[:3])
    if h > 23 or m > 59 or s > 60:  # 60: a leap second
        raise SentenceParseError("time out of range", typ)
    return ((h * 60 + m) * 60 + s) * 1000 + frac


def _coord(v: str, hemi: str, limit: int, pos: str, neg: str, typ: str) -> float:
    """'(d)ddmm.mmmm' + hemisphere -> signed decimal degrees."""
    dot = v.find(".")
    if dot < 0:
        dot = len(v)
    # Digits with at most one dot (float() would also take "nan", "1e5", " 1", "1_0").
    if dot < 3 or len(v) > 20 or not v.replace(".", "", 1).isdigit():
        raise SentenceParseError("bad coordinate field", typ)
    minutes = float(v[dot - 2 :])
    deg = int(v[: dot - 2])
    if minutes >= 60.0:
        raise SentenceParseError("coordinate minutes out of range", typ)
    val = deg + minutes / 60.0
    if val > limit:
        raise SentenceParseError("coordinate out of range", typ)
    if hemi == pos:
        return val
    if hemi == neg:
        return -val
    raise SentenceParseError("bad hemisphere field", typ)


def _number(v: str, typ: str) -> float | None:
    """A non-negative decimal field; empty -> None."""
    if not v:
        return None
    if len(v) > 12:  # float("9" * 400) is inf: no receiver field is that long
        raise SentenceParseError("numeric field too long", typ)
    if not v.replace(".", "", 1).isdigit():
        raise SentenceParseError("bad numeric field", typ)
    return float(v)


def _altitude(f: list[str]) -> float | None:
    """GGA field 9, metres above mean sea level; None when empty or not a receiver's altitude."""
    if len(f) <= 9 or not f[9]:
        return None
    try:
        value = float(f[9])
    except ValueError:
        return None
    return value if -1000.0 < value < 100_000.0 else None  # (also not float()'s "nan", "1e9")


def _yy_date(v: str, typ: str) -> date:
    """RMC 'ddmmyy' -> date (two-digit year pivot at 80: GPS began in 1980)."""
    if len(v) != 6 or not v.isdigit():
        raise BadDateError("bad date field", typ)
    yy = int(v[4:6])
    try:
        return date(1900 + yy if yy >= 80 else 2000 + yy, int(v[2:4]), int(v[0:2]))
    except ValueError:
        raise BadDateError("impossible date", typ) from None


class FixAssembler:
    """Merges RMC/GGA/GLL/VTG/ZDA sentences of one epoch (same UTC time of day) into one Fix.

    Feed framed lines with `feed(line)`, or raw bytes with `feed_bytes(data)`; a Fix comes out when
    the next epoch starts, and `flush()`/`close()` ends the last one. Guarantees on every Fix: time
    is aware UTC and strictly increasing (except right after a flagged "time_reset"), lat in
    [-90, 90], lon in [-180, 180]. Flags: "dead_reckoning", "date_corrected", "time_reset".

    `min_date`: dates before it are GPS-week-rollover artefacts and get 1024 weeks added (flag
    "date_corrected"). Use LIVE_MIN_DATE on a car, RECORDING_MIN_DATE for historical replays.
    """

    def __init__(
        self,
        min_date: date = LIVE_MIN_DATE,
        counter: SkipCounter | None = None,
        *,
        max_line: int = MAX_LINE,
        stale_resync: int = STALE_RESYNC,
    ) -> None:
        self.min_date = min_date
        self.counter = counter if counter is not None else SkipCounter()
        self.stale_resync = stale_resync
        self._framer = LineFramer(self.counter, max_line)
        self._handlers: dict[bytes, Callable[[str], None]] = {
            b"RMC": self._rmc,
            b"GGA": self._gga,
            b"GLL": self._gll,
            b"VTG": self._vtg,
            b"ZDA": self._zda,
        }
        # Lines of a type we do not decode are counted in a cell [count, reason] per reason, which
        # the dispatch cache hands out by prefix: `cell[0] += 1` per line costs less than a dict
        # update under the reason; `feed_bytes` adds the cells to the counter after its loop.
        self._skip_cells: dict[str, list[Any]] = {"not_nmea": [0, "not_nmea"], "unsupported_type": [0, "unsupported_type"]}
        self._dispatch: dict[bytes, Callable[[str], None] | list[Any]] = {}
        self._rmc_date_raw = ""
        self._hdop_cache: dict[str, float | None] = {}
        self._altitude_due = _LONG_AGO
        self._rmc_date: tuple[date, bool] = (GPS_EPOCH, False)
        # Date context for epochs without a date of their own: (date, tod_ms, corrected).
        self._ctx: tuple[date, int, bool] | None = None
        self._last_time: datetime | None = None
        self._midnight_day: date | None = None
        self._midnight = datetime(1970, 1, 1, tzinfo=_UTC)
        self._stale_run = 0
        self._out: Fix | None = None
        self._entered = False
        self._reset_epoch()

    # ---- public API ------------------------------------------------------------------------

    def feed(self, line: bytes) -> Fix | None:
        """Process one framed line; return the Fix of the epoch this line closed, if any."""
        c = self.counter
        c.sentences += 1
        kind = self._dispatch.get(line[:7])
        if kind is None:
            kind = self._classify(line)
        if kind.__class__ is list:
            c.skipped[kind[1]] += 1  # type: ignore[index]
            return None
        return self._decode(line, kind)  # type: ignore[arg-type]

    def _decode(self, line: bytes, handler: Callable[[str], None]) -> Fix | None:
        """`feed` for a line already counted and dispatched to the handler of its type (the one
        path of `feed` and `feed_bytes`)."""
        self._out = None
        self._entered = False
        try:
            n = len(line)
            if n < 10 or line[n - 3] != 42:  # 42 == '*'
                raise NoChecksumError("sentence without checksum", _typ(line))
            body = line[1 : n - 3]
            want = _HEX.get(line[n - 2 :])
            if want is None:
                raise BadChecksumError("checksum is not hex", _typ(line))
            if _checksum(body) != want:
                raise BadChecksumError("checksum mismatch", _typ(line))
            try:
                text = body.decode("ascii")
            except UnicodeDecodeError:
                raise SentenceParseError("non-ASCII bytes", _typ(line)) from None
            handler(text)
            self._ep_pending += 1
        except NmeaError as err:
            self._on_error(err)
        except (ValueError, IndexError, OverflowError) as exc:
            self._on_error(SentenceParseError(type(exc).__name__, _typ(line)))
        return self._out

    def _classify(self, line: bytes) -> Callable[[str], None] | list[Any]:
        """The handler for a sentence we decode, else the skip reason's cell [count, reason];
        cached by the first 7 bytes."""
        handler = self._handlers.get(line[3:6])
        talker = line[1:3]
        kind: Callable[[str], None] | list[Any]
        if (
            handler is None
            or line[6:7] != b","
            or line[0:1] != b"$"
            or not talker.isalpha()
            or not talker.isupper()
            or talker[0:1] == b"P"  # $PGRMC is Garmin-proprietary, not an RMC
        ):
            kind = self._skip_cells[_classify_unused(line)]
        else:
            kind = handler
        # With the first comma at index 6 the answer depends on these 7 bytes only. The cap keeps
        # a garbage stream from growing the cache.
        if line[6:7] == b"," and len(self._dispatch) < 512:
            self._dispatch[line[:7]] = kind
        return kind

    def flush(self) -> Fix | None:
        """End the open epoch (end of a recording, or the receiver went quiet)."""
        return self._finalize()

    def feed_bytes(self, data: bytes) -> list[Fix]:
        """Frame raw bytes and feed every complete line; return the Fixes they closed."""
        out: list[Fix] = []
        decode = self._decode
        dispatch = self._dispatch
        skipped = self.counter.skipped
        lines = self._framer.feed(data)
        self.counter.sentences += len(lines)  # every line is counted once, here
        used: list[bytes] = []
        handlers: list[Callable[[str], None]] = []
        for line in lines:
            # The type decides before any other work: a known type we do not use (GSV, GSA,
            # ...; most lines) is only counted, a type we use goes to its handler. Only a line
            # with a new 7-byte prefix takes the long way (classified, then cached).
            kind = dispatch.get(line[:7])
            if kind is None:
                kind = self._classify(line)
            if kind.__class__ is list:
                kind[0] += 1  # type: ignore[index]
                continue
            used.append(line)
            handlers.append(kind)  # type: ignore[arg-type]
        for cell in self._skip_cells.values():
            if cell[0]:
                skipped[cell[1]] += cell[0]
                cell[0] = 0
        for line, handler in zip(used, handlers):
            fix = decode(line, handler)
            if fix is not None:
                out.append(fix)
        return out

    def close(self) -> list[Fix]:
        """End of stream: frame what the framer still holds, then flush the last epoch."""
        out: list[Fix] = []
        for line in self._framer.flush():
            fix = self.feed(line)
            if fix is not None:
                out.append(fix)
        fix = self.flush()
        if fix is not None:
            out.append(fix)
        return out

    def stats(self) -> dict[str, object]:
        """Counters so far (see SkipCounter.stats)."""
        return self.counter.stats()

    # ---- epoch bookkeeping -----------------------------------------------------------------

    def _reset_epoch(self) -> None:
        self._ep_tod: int | None = None
        self._ep_tstr = ""  # the raw time field that set _ep_tod
        self._ep_pending = 0
        self._ep_veto: str | None = None
        # (lat, lon, speed_kmh, course, date, corrected, dead_reckoning)
        self._ep_rmc: tuple[float, float, float | None, float | None, date, bool, bool] | None = None
        # GGA/GLL/VTG keep their raw fields: they are decoded only if the epoch needs them (most
        # epochs take position and speed from RMC), which saves most of their decoding time.
        self._ep_gga: tuple[list[str], int] | None = None  # (fields, quality)
        self._ep_gll: tuple[list[str], bool] | None = None  # (fields, dead_reckoning)
        self._ep_vtg: list[str] | None = None
        self._ep_zda: tuple[date, bool] | None = None

    def _on_error(self, err: NmeaError) -> None:
        # A line that failed after it claimed its epoch (e.g. RMC status V) vetoes the epoch: the
        # receiver itself said this instant is not trustworthy, so GGA of the same instant is not
        # used either. Duplicates do not veto.
        if self._entered and err.reason != "duplicate" and self._ep_veto is None:
            self._ep_veto = err.reason
        self.counter.reject(err)

    def _enter_time(self, t: str, typ: str) -> int:
        """Attach the current line to the epoch of time field `t`, closing the previous epoch if it
        differs; RMC, GGA and GLL of one epoch repeat the same string."""
        if t == self._ep_tstr:
            self._entered = True
            return self._ep_tod  # type: ignore[return-value]
        tod = _tod_ms(t, typ)
        if tod != self._ep_tod:
            if self._ep_tod is not None:
                self._out = self._finalize()
            self._ep_tod = tod  # (None before: only untimed lines (VTG) so far, which join it)
        self._entered = True
        self._ep_tstr = t
        return tod

    def _finalize(self) -> Fix | None:
        pending = self._ep_pending
        tod = self._ep_tod
        veto = self._ep_veto
        rmc, gga, gll, vtg, zda = self._ep_rmc, self._ep_gga, self._ep_gll, self._ep_vtg, self._ep_zda
        self._reset_epoch()
        c = self.counter
        if pending == 0:
            return None
        if veto is not None:
            c.drop_epoch(veto, pending)
            return None
        if tod is None or (rmc is None and gga is None and gll is None):
            c.drop_epoch("no_fix", pending)  # only auxiliary lines (VTG/ZDA): no position this epoch
            return None
        dead_reckoning = False
        if rmc is not None:
            lat, lon, speed, course, day, corrected, dead_reckoning = rmc
        else:
            try:
                if gga is not None:
                    f = gga[0]
                    lat = _coord(f[2], f[3], 90, "N", "S", "GGA")
                    lon = _coord(f[4], f[5], 180, "E", "W", "GGA")
                else:
                    assert gll is not None
                    f, dead_reckoning = gll
                    lat = _coord(f[1], f[2], 90, "N", "S", "GLL")
                    lon = _coord(f[3], f[4], 180, "E", "W", "GLL")
            except (NmeaError, ValueError, IndexError):
                c.drop_epoch("parse_error", pending)
                return None
            if lat == 0.0 and lon == 0.0:
                c.drop_epoch("no_fix", pending)  # receivers print 0,0 when they have nothing
                return None
            speed = course = None
            if zda is not None:
                day, corrected = zda
            else:
                carried = self._carried(tod)
                if carried is None:
                    c.drop_epoch("no_date", pending)
                    return None
                day, corrected = carried
        if speed is None and vtg is not None:
            speed, course = _vtg_values(vtg)
        quality = sats = hdop = None
        if gga is not None:
            f, quality = gga
            sats = _SATELLITES.get(f[7])  # int of 1-3 digits, else None
            # HDOP takes few distinct values ("0.9", "1.2"): decoded once each (bounded cache)
            hdop = self._hdop_cache.get(f[8], _UNSEEN)
            if hdop is _UNSEEN:
                try:
                    hdop = _number(f[8], "GGA")
                except NmeaError:
                    hdop = None
                if len(self._hdop_cache) < 256:
                    self._hdop_cache[f[8]] = hdop
            if quality == 6:
                dead_reckoning = True
        if day != self._midnight_day:  # one datetime per UTC day, not one per fix
            self._midnight_day = day
            self._midnight = datetime(day.year, day.month, day.day, tzinfo=_UTC)
        # A leap second (:60, which datetime cannot hold) becomes the next minute's :00, also
        # across midnight.
        t = self._midnight + tod * _MS
        reset = False
        last = self._last_time
        if last is not None and t <= last:
            # A frozen timestamp (t == last) is never accepted. A clock that went back is accepted
            # after `stale_resync` epochs in a row, flagged, so that a receiver that once reported
            # a wrong future time cannot block all fixes until that time has passed.
            self._stale_run += 1
            if t == last or self._stale_run < self.stale_resync:
                c.drop_epoch("stale", pending)
                return None
            reset = True
        self._stale_run = 0
        self._last_time = t
        altitude = None
        if gga is not None and (t >= self._altitude_due or reset):
            altitude = _altitude(gga[0])
            if altitude is not None:
                self._altitude_due = t + ALTITUDE_INTERVAL
        self._ctx = (day, tod, corrected)
        c.used += pending
        c.fixes += 1
        if dead_reckoning or corrected or reset:
            flags = frozenset(
                name
                for name, on in (
                    ("dead_reckoning", dead_reckoning),
                    ("date_corrected", corrected),
                    ("time_reset", reset),
                )
                if on
            )
        else:
            flags = _NO_FLAGS
        # Positional, in the field order of device.model.Fix: a third cheaper than keywords,
        # once per fix.
        return Fix(t, lat, lon, speed, course, hdop, sats, quality, flags, altitude)

    def _carried(self, tod: int) -> tuple[date, bool] | None:
        """The date for an epoch without RMC/ZDA: the last known date, rolled over at midnight."""
        if self._ctx is None:
            return None
        day, ctx_tod, corrected = self._ctx
        delta = tod - ctx_tod
        if delta < -_HALF_DAY_MS:
            day = day + _ONE_DAY
        elif delta > _HALF_DAY_MS:
            day = day - _ONE_DAY
        return day, corrected

    def _guard(self, day: date, typ: str) -> tuple[date, bool]:
        """GPS week rollover guard: add 1024 weeks while before `min_date`; refuse noise."""
        if day < GPS_EPOCH or day > MAX_DATE:
            raise BadDateError("date outside the GPS era", typ)
        if day >= self.min_date:
            return day, False
        for _ in range(MAX_ROLLOVERS):
            day = day + ROLLOVER
            if day >= self.min_date:
                return day, True
        raise BadDateError("date too far before the minimum date", typ)

    # ---- sentence handlers: raise NmeaError to reject, return to accept --------------------

    def _rmc(self, text: str) -> None:
        # RMC: 1 time, 2 status, 3-6 lat/lon, 7 speed kn, 8 course, 9 date, 12 mode (NMEA 2.3+)
        if self._rmc_fast(text):
            return
        f = text.split(",")
        if len(f) < 10:
            raise SentenceParseError("too few fields", "RMC")
        status = f[2]
        if not f[1]:
            raise (NoFixError("no time", "RMC") if status != "A" else SentenceParseError("no time", "RMC"))
        self._enter_time(f[1], "RMC")
        if status != "A":
            raise NoFixError("status not A", "RMC")
        mode = f[12] if len(f) > 12 else ""
        if mode == "M" or mode == "S":
            raise RejectedModeError("manual or simulator mode", "RMC")
        if mode == "N":
            raise NoFixError("mode N", "RMC")
        if not f[3] or not f[5]:
            raise NoFixError("empty position", "RMC")
        lat = _coord(f[3], f[4], 90, "N", "S", "RMC")
        lon = _coord(f[5], f[6], 180, "E", "W", "RMC")
        if lat == 0.0 and lon == 0.0:
            raise NoFixError("zero position", "RMC")  # receivers print 0,0 when they have nothing
        knots = _number(f[7], "RMC")
        course = _number(f[8], "RMC")
        if course is not None and course > 360.0:
            raise SentenceParseError("course out of range", "RMC")
        # Consecutive RMCs share the date: decode and guard it once per day.
        if f[9] == self._rmc_date_raw:
            day, corrected = self._rmc_date
        else:
            day, corrected = self._guard(_yy_date(f[9], "RMC"), "RMC")
            self._rmc_date_raw, self._rmc_date = f[9], (day, corrected)
        if self._ep_rmc is not None:
            raise _duplicate("RMC")
        self._ep_rmc = (
            lat,
            lon,
            None if knots is None else knots * KNOT_KMH,
            course,
            day,
            corrected,
            mode == "E",
        )
        self._ctx = (day, self._ep_tod or 0, corrected)

    def _rmc_fast(self, text: str) -> bool:
        """The commonest RMC (status A, a usual mode, sane fields, the date of the RMC before)
        accepted by one regex match and a few tests, not a dozen small steps: True when it is
        taken. Anything else returns False before any side effect, and `_rmc` then decides
        line by line as always (a test holds the two paths equal on every recording and on
        mutated sentences). Same arithmetic as `_coord` and `_number`, so the same bits."""
        m = _RMC_COMMON.fullmatch(text)
        if m is None:
            return False
        t, lat_d, lat_m, ns, lon_d, lon_m, ew, knots_s, course_s, day_s, mode = m.groups()
        if day_s != self._rmc_date_raw or mode == "M" or mode == "S" or mode == "N":
            return False
        minutes = float(lat_m)
        if minutes >= 60.0:
            return False
        lat = int(lat_d) + minutes / 60.0
        minutes = float(lon_m)
        if minutes >= 60.0:
            return False
        lon = int(lon_d) + minutes / 60.0
        if lat > 90 or lon > 180 or (lat == 0.0 and lon == 0.0):
            return False
        course = float(course_s) if course_s else None
        if course is not None and course > 360.0:
            return False
        # Only now the epoch bookkeeping (which may close the previous epoch). A bad time raises
        # here what `_rmc` would raise: its first test after the ones the regex made; and with
        # every other test passed, `_rmc` too would find nothing but a duplicate.
        self._enter_time(t, "RMC")
        if self._ep_rmc is not None:  # (after _enter_time: a new epoch has none yet)
            raise _duplicate("RMC")
        day, corrected = self._rmc_date
        self._ep_rmc = (
            -lat if ns == "S" else lat,
            -lon if ew == "W" else lon,
            float(knots_s) * KNOT_KMH if knots_s else None,
            course,
            day,
            corrected,
            mode == "E",
        )
        self._ctx = (day, self._ep_tod or 0, corrected)
        return True

    def _gga(self, text: str) -> None:
        # GGA: 1 time, 2-5 lat/lon, 6 quality, 7 satellites, 8 HDOP
        f = text.split(",")
        if len(f) < 9:
            raise SentenceParseError("too few fields", "GGA")
        q = f[6]
        if not q:
            quality = 0  # some receivers leave the quality empty while they have no fix
        elif q.isdigit() and len(q) <= 2:
            quality = int(q)
        else:
            raise SentenceParseError("bad quality field", "GGA")
        if not f[1]:
            raise (NoFixError("no time", "GGA") if quality == 0 else SentenceParseError("no time", "GGA"))
        self._enter_time(f[1], "GGA")
        if quality == 0:
            raise NoFixError("quality 0", "GGA")
        if quality == 7 or quality == 8:
            raise RejectedModeError("manual or simulator quality", "GGA")
        if quality > 9:
            raise SentenceParseError("unknown quality", "GGA")
        if not f[2] or not f[4]:
            raise NoFixError("empty position", "GGA")
        if self._ep_gga is not None:
            raise _duplicate("GGA")
        self._ep_gga = (f, quality)

    def _gll(self, text: str) -> None:
        # GLL: 1-4 lat/lon, 5 time, 6 status, 7 mode (NMEA 2.3+). Used only without RMC/GGA.
        f = text.split(",")
        if len(f) < 7:
            raise SentenceParseError("too few fields", "GLL")
        status = f[6]
        if not f[5]:
            raise (NoFixError("no time", "GLL") if status != "A" else SentenceParseError("no time", "GLL"))
        self._enter_time(f[5], "GLL")
        if status != "A":
            raise NoFixError("status not A", "GLL")
        mode = f[7] if len(f) > 7 else ""
        if mode == "M" or mode == "S":
            raise RejectedModeError("manual or simulator mode", "GLL")
        if mode == "N":
            raise NoFixError("mode N", "GLL")
        if not f[1] or not f[3]:
            raise NoFixError("empty position", "GLL")
        if self._ep_gll is not None:
            raise _duplicate("GLL")
        self._ep_gll = (f, mode == "E")

    def _vtg(self, text: str) -> None:
        # VTG: 1 course true, 5 speed kn, 7 speed km/h, 9 mode. No time: joins the open epoch.
        f = text.split(",")
        if len(f) < 8:
            raise SentenceParseError("too few fields", "VTG")
        mode = f[9] if len(f) > 9 else ""
        if mode == "N":
            raise NoFixError("mode N", "VTG")
        if mode == "M" or mode == "S":
            raise RejectedModeError("manual or simulator mode", "VTG")
        if not (f[1] or f[5] or f[7]):
            raise NoFixError("empty", "VTG")
        if self._ep_vtg is not None:
            raise _duplicate("VTG")
        self._ep_vtg = f

    def _zda(self, text: str) -> None:
        # ZDA: 1 time, 2 day, 3 month, 4 year (four digits). The date source of GGA-only receivers.
        f = text.split(",")
        if len(f) < 5:
            raise SentenceParseError("too few fields", "ZDA")
        if not f[1]:
            raise NoFixError("no time", "ZDA")
        tod = self._enter_time(f[1], "ZDA")
        d, mo, y = f[2], f[3], f[4]
        if not (d.isdigit() and mo.isdigit() and y.isdigit() and len(y) == 4):
            raise BadDateError("bad date fields", "ZDA")
        try:
            day = date(int(y), int(mo), int(d))
        except ValueError:
            raise BadDateError("impossible date", "ZDA") from None
        day, corrected = self._guard(day, "ZDA")
        if self._ep_zda is not None:
            raise _duplicate("ZDA")
        self._ep_zda = (day, corrected)
        self._ctx = (day, tod, corrected)


# An RMC with status A whose fields have shapes `_rmc` accepts (a subset of them: the lengths
# are bounded below `_coord`'s 20 and `_number`'s 12 characters): time hhmmss[.s*], position
# (d)ddmm[.m*] with a hemisphere, speed and course of digits with at most one dot (not the dot
# alone) or empty, a six-digit date, then magnetic variation, its direction, the mode and
# anything after it.
_RMC_NUMBER = r"((?:[0-9]{1,6}(?:\.[0-9]{0,5})?|\.[0-9]{1,5})?)"
_RMC_COMMON = re.compile(
    r"[^,]*,([0-9]{6}(?:\.[0-9]*)?),A,"
    r"([0-9]{1,3})([0-9]{2}(?:\.[0-9]{0,12})?),([NS]),([0-9]{1,3})([0-9]{2}(?:\.[0-9]{0,12})?),([EW]),"
    + _RMC_NUMBER + "," + _RMC_NUMBER + r",([0-9]{6})"
    r"(?:,[^,]*(?:,[^,]*(?:,([^,]*)(?:,.*)?)?)?)?",
    re.ASCII | re.DOTALL,
)


def _vtg_values(f: list[str]) -> tuple[float | None, float | None]:
    """(speed km/h, course) from VTG fields; (None, None) when they do not make sense."""
    try:
        course = _number(f[1], "VTG")
        speed = _number(f[7], "VTG")
        if speed is None:
            knots = _number(f[5], "VTG")
            speed = None if knots is None else knots * KNOT_KMH
    except (NmeaError, ValueError, IndexError):
        return None, None
    if course is not None and course > 360.0:
        course = None
    return speed, course


def _duplicate(typ: str) -> NmeaError:
    return DuplicateSentenceError("second sentence of this type in one epoch", typ)


_ADDRESS = re.compile(rb"[A-Z0-9]+")


def _classify_unused(line: bytes) -> str:
    """A line we will not decode: a valid-looking sentence of another type, or not NMEA at all."""
    if not line or line[0] not in (36, 33):  # '$', '!'
        return "not_nmea"
    end = line.find(b",")
    if end < 0:
        end = line.find(b"*")
        if end < 0:
            end = len(line)
    address = line[1:end]
    if not _ADDRESS.fullmatch(address):
        return "not_nmea"
    # Standard sentences have a 2-letter talker and a 3-letter type; proprietary ones start
    # with 'P' and any length. $GYOACC, $SNRSTAT, $GSENSORD are neither (gpsd calls them invalid).
    if len(address) == 5 or address[0:1] == b"P":
        return "unsupported_type"
    return "not_nmea"


def read_fixes(chunks: Iterable[bytes], assembler: FixAssembler | None = None) -> Iterator[Fix]:
    """Fixes from a stream of byte chunks (a file read in blocks, a serial port); flushes at end."""
    asm = assembler if assembler is not None else FixAssembler()
    for chunk in chunks:
        yield from asm.feed_bytes(chunk)
    yield from asm.close()
