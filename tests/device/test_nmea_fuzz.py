"""Fuzzing the NMEA stage: random bytes and mutated real lines never raise, and the books balance."""
from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.model import Fix
from device.nmea import RECORDING_MIN_DATE, REASONS, FixAssembler, LineFramer
from tests.device.conftest import recording_path

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sample_lines() -> list[bytes]:
    """Real lines of every type we decode (plus a few others), from receivers that differ."""
    names = (
        "gpsd__gp-320fw-2019-04-07-coldboot.nmea",
        "gpsd__hemi.nmea",
        "gpsd__humminbird-M37.nmea",
        "gpsd__magellan-ec10.nmea",
        "gpsd__nmea-rtk.nmea",
        "gpsd__ublox-neo-m9n-nmea.nmea",
        "hardloader__nmea.nmea",
        "leaflet-nmealayer__test.nmea",
    )
    lines: list[bytes] = []
    for name in names:
        data = recording_path(name).read_bytes().replace(b"\r", b"\n")
        picked = [ln for ln in data.split(b"\n") if ln.strip()][:60]
        lines.extend(picked)
    return lines


LINES = _sample_lines()


def _with_checksum(line: bytes) -> bytes:
    """Recompute '*hh' so that a mutation gets past the checksum into the field decoders."""
    star = line.rfind(b"*")
    body = line[1:star] if star > 0 else line[1:]
    x = 0
    for b in body:
        x ^= b
    return b"$" + body + b"*%02X" % x


@st.composite
def mutated_line(draw: st.DrawFn) -> bytes:
    line = draw(st.sampled_from(LINES))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "splice", "field"]))
        if not line:
            break
        i = draw(st.integers(0, len(line) - 1))
        if op == "flip":
            line = line[:i] + bytes([line[i] ^ draw(st.integers(1, 255))]) + line[i + 1 :]
        elif op == "truncate":
            line = line[:i]
        elif op == "insert":
            line = line[:i] + draw(st.binary(min_size=1, max_size=8)) + line[i:]
        elif op == "splice":
            other = draw(st.sampled_from(LINES))
            line = line[:i] + other[draw(st.integers(0, len(other))) :]
        else:  # replace a field with something plausible-looking
            fields = line.split(b",")
            k = draw(st.integers(0, len(fields) - 1))
            fields[k] = draw(
                st.sampled_from([b"", b"-1", b"99999999", b"9" * 40, b"nan", b"inf", b"1e308", b"A", b"00.0", b"1_0"])
            )
            line = b",".join(fields)
    if line.startswith(b"$") and draw(st.booleans()):
        line = _with_checksum(line)
    return line


def check_fixes(fixes: list[Fix]) -> None:
    for prev, fix in zip([None, *fixes], fixes):
        assert fix.time.tzinfo is not None and fix.time.utcoffset() == timedelta(0)
        assert -90.0 <= fix.lat <= 90.0 and -180.0 <= fix.lon <= 180.0
        for value in (fix.speed_kmh, fix.course_deg, fix.hdop):
            assert value is None or (math.isfinite(value) and value >= 0.0)
        if prev is not None and "time_reset" not in fix.flags:
            assert fix.time > prev.time


def check_books(asm: FixAssembler, fixes: list[Fix]) -> None:
    stats = asm.stats()
    assert set(stats["skipped"]) == set(REASONS)
    assert all(v >= 0 for v in stats["skipped"].values())
    assert stats["sentences"] == stats["used"] + sum(stats["skipped"].values())
    assert stats["fixes"] == len(fixes)


def run_bytes(chunks: list[bytes]) -> tuple[FixAssembler, list[Fix]]:
    asm = FixAssembler(RECORDING_MIN_DATE)
    fixes: list[Fix] = []
    for chunk in chunks:
        fixes.extend(asm.feed_bytes(chunk))
    fixes.extend(asm.close())
    return asm, fixes


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=12))
def test_random_bytes(chunks: list[bytes]) -> None:
    asm, fixes = run_bytes(chunks)
    check_books(asm, fixes)
    check_fixes(fixes)


@FUZZ
@given(
    st.lists(
        st.one_of(st.sampled_from(LINES), mutated_line(), st.binary(max_size=40)),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b"", b"\x00", b"\xb5\x62"]), min_size=1, max_size=4),
    st.integers(1, 200),
)
def test_mutated_real_lines_through_the_framer(lines: list[bytes], seps: list[bytes], chunk: int) -> None:
    stream = b"".join(line + seps[i % len(seps)] for i, line in enumerate(lines))
    asm, fixes = run_bytes([stream[i : i + chunk] for i in range(0, len(stream), chunk)])
    check_books(asm, fixes)
    check_fixes(fixes)


@FUZZ
@given(st.lists(st.one_of(mutated_line(), st.binary(max_size=90)), min_size=1, max_size=40))
def test_mutated_lines_fed_straight_to_the_assembler(lines: list[bytes]) -> None:
    # Callers may bypass the framer (gpsd source, tests): any bytes as a "line" must be safe.
    asm = FixAssembler(RECORDING_MIN_DATE)
    fixes = [f for line in lines if (f := asm.feed(line)) is not None]
    last = asm.flush()
    if last is not None:
        fixes.append(last)
    check_books(asm, fixes)
    check_fixes(fixes)


@FUZZ
@given(st.binary(max_size=2000), st.integers(1, 64))
def test_framer_holds_bounded_memory_and_loses_no_sentence(garbage: bytes, chunk: int) -> None:
    good = LINES[0] if LINES[0].startswith(b"$") else b"$GPVTG,,T,,M,,N,,K,N*2C"
    stream = garbage + b"\r\n" + good + b"\r\n"
    fr = LineFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out.extend(fr.feed(stream[i : i + chunk]))
        assert len(fr._tail) <= 2 * fr.max_line
    out.extend(fr.flush())
    # Garbage may end in an unterminated candidate, but a line break ends it: `good` survives.
    assert out[-1] == good
    assert all(1 <= len(c) <= fr.max_line for c in out)


@st.composite
def framed_line(draw: st.DrawFn) -> bytes:
    """A line as the framer hands it over: printable ASCII, at least 7 bytes, mostly '$...*hh'
    with a right, wrong, lowercase, non-hex or missing checksum."""
    body = draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="$!*"),
                        min_size=0, max_size=90)).encode("ascii")
    body = draw(st.sampled_from([b"GPXXX,", b"G", b""])) + body
    x = 0
    for b in body:
        x ^= b
    tail = draw(st.sampled_from([b"*%02X" % x, b"*%02x" % x, b"*%02X" % (x ^ 1), b"*G0", b"*0", b"", b"*"]))
    return draw(st.sampled_from([b"$", b"!"])) + body + tail


@settings(max_examples=300, deadline=None)
@given(framed_line().filter(lambda line: len(line) >= 7))
def test_the_checksum_test_accepts_exactly_the_lines_whose_hh_is_the_xor_of_their_body(line: bytes) -> None:
    assembler = FixAssembler(RECORDING_MIN_DATE)
    handled: list[str] = []
    assembler._decode(line, handled.append)  # the one path of feed() and feed_bytes(), any type
    n, hh = len(line), line[-2:].decode("ascii")
    x = 0
    for b in line[1 : n - 3]:
        x ^= b
    expected = n >= 10 and line[n - 3] == 42 and all(c in "0123456789abcdefABCDEF" for c in hh) and int(hh, 16) == x
    assert handled == ([line[1 : n - 3].decode("ascii")] if expected else [])
    refused = assembler.counter.skipped["bad_checksum"] + assembler.counter.skipped["no_checksum"]
    assert refused == (0 if expected else 1)


def test_huge_fields_fed_straight_to_the_assembler() -> None:
    # Python refuses int() of > 4300 digits and float() of 400 nines is inf: none may escape.
    from tests.device.test_nmea import nmea

    big = "9" * 5000
    asm = FixAssembler(RECORDING_MIN_DATE)
    lines = [
        nmea(f"GPGGA,101500.00,{big}.1,N,00653.1014,E,1,{big},{big},40.0,M,47.0,M,,"),
        nmea(f"GPGLL,5212.98,N,{big},E,101501.00,A,A"),
        nmea(f"GPVTG,{big},T,,M,{big},N,{big},K,A"),
        nmea(f"GPRMC,101502.00,A,5212.9821,N,00653.1014,E,{big},1e308,230808,,,A"),
        nmea(f"GPZDA,101503.00,{big},08,2008,00,00"),
        nmea(f"GPGGA,101504.00,5212.9821,N,00653.1014,E,{big},09,0.9,40.0,M,47.0,M,,"),
    ]
    fixes = [f for ln in lines if (f := asm.feed(ln)) is not None]
    last = asm.flush()
    fixes += [last] if last is not None else []
    check_books(asm, fixes)
    check_fixes(fixes)


class _RmcAlwaysSlow(FixAssembler):
    """The assembler without its RMC fast path: every RMC is decided field by field."""

    def _rmc_fast(self, text: str) -> bool:
        return False


_RMC_FIELD = {
    "time": ["235959", "000000", "120000.5", "120000.", "120000.123456", "246000", "126000", "125960", "12000", ""],
    "status": ["A", "A", "A", "V", ""],
    "lat": ["5212.9821", "0000.0000", "9000.0000", "9000.0001", "5260.0000", "5259.99999", "212.98", "1",
            "52.5", "5212", "5212.", "05212.9821", "5212.98212345678901", "", "5212.9.1", "-5212.1"],
    "ns": ["N", "S", "", "E"],
    "lon": ["00653.1014", "18000.0000", "18000.0001", "0653.1014", "653.1", "00000.0000", "12345678901234.5", ""],
    "ew": ["E", "W", "", "N"],
    "number": ["", "0", "0.0", "12.5", ".5", "5.", ".", "360", "360.0", "360.1", "123456789012", "1234567890123",
               "1.2.3", "1e5", "nan", "-1"],
    "date": ["230808", "230808", "010180", "311299", "000000", "320108", "2308080", ""],
    "tail": ["", ",", ",,", ",3.1,W", ",,,A", ",,,E", ",,,M", ",,,S", ",,,N", ",,,D,V", ",,,", ",,,AA", ",1,E,A,x,y"],
}


_RMC_BASE = {"status": "A", "lat": "5212.9821", "ns": "N", "lon": "00653.1014", "ew": "E",
             "speed": "12.5", "course": "90.0", "date": "230808", "tail": ",,,A"}


@st.composite
def rmc_sentence(draw: st.DrawFn) -> dict[str, str]:
    """The fields of a good RMC with none, one or two swapped for an edge case (mostly good
    sentences, so that the fast path is taken often and each edge case meets it)."""
    f = dict(_RMC_BASE)
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["time", *sorted(f)]))
        pool = _RMC_FIELD["number"] if name in ("speed", "course") else _RMC_FIELD[name]
        f[name] = draw(st.sampled_from(pool))
    return f


@settings(max_examples=400, deadline=None)
@given(st.lists(rmc_sentence(), min_size=1, max_size=30), st.integers(0, 3))
def test_rmc_fast_path_decides_like_the_field_by_field_path(sentences: list[dict[str, str]], repeat: int) -> None:
    lines = []
    for i, f in enumerate(sentences):
        # One epoch a second (a swapped time field breaks the order on purpose); sometimes a
        # sentence comes twice (a duplicate in its epoch).
        time = f.get("time", f"12{i // 60:02d}{i % 60:02d}")
        body = (f"GPRMC,{time},{f['status']},{f['lat']},{f['ns']},{f['lon']},{f['ew']},"
                f"{f['speed']},{f['course']},{f['date']}{f['tail']}")
        lines += [_with_checksum(b"$" + body.encode("ascii"))] * (2 if i % 4 == repeat else 1)
    results = []
    for cls in (FixAssembler, _RmcAlwaysSlow):
        asm = cls(RECORDING_MIN_DATE)
        fixes = [fix for line in lines if (fix := asm.feed(line)) is not None]
        last = asm.flush()
        results.append((fixes + ([last] if last is not None else []), asm.stats()))
    assert results[0] == results[1]
