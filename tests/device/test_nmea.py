"""device.nmea against the real recordings in tests/data/nmea and against crafted byte streams.

Expected numbers come from tests/data/nmea/PROVENANCE.md (per-file sentence-type counts, RMC
epochs, no-fix counts) and from reading the files; each entry says how it was derived.
"""
from __future__ import annotations

import functools
import math
from datetime import date, datetime, timedelta, timezone

import pynmea2
import pytest

from device.model import Fix
from device.nmea import (
    LIVE_MIN_DATE,
    RECORDING_MIN_DATE,
    REASONS,
    ROLLOVER,
    FixAssembler,
    LineFramer,
    SkipCounter,
    read_fixes,
)
from tests.device.conftest import all_recordings, recording_path

UTC = timezone.utc


def nmea(body: str) -> bytes:
    """A sentence with a correct checksum, e.g. nmea("GPRMC,...") -> b"$GPRMC,...*hh"."""
    x = functools.reduce(lambda a, ch: a ^ ord(ch), body, 0)
    return f"${body}*{x:02X}".encode("ascii")


def replay(name: str, min_date: date = RECORDING_MIN_DATE, chunk: int = 4096) -> tuple[list[Fix], dict]:
    data = recording_path(name).read_bytes()
    asm = FixAssembler(min_date)
    chunks = (data[i : i + chunk] for i in range(0, len(data), chunk))
    fixes = list(read_fixes(chunks, asm))
    return fixes, asm.stats()


def nonzero(skipped: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in skipped.items() if v}


# name -> (fixes, skipped reasons that are not zero). "unsupported" = every line of a type we do
# not decode (we use RMC, GGA, GLL, VTG, ZDA), summed from the PROVENANCE type counts.
EXPECTED: dict[str, tuple[int, dict[str, int]]] = {
    # 4469 RMC epochs, none void. Unsupported: GSV 13407 + 6 types x 4469 (RMB, GSA, BOD, PGRME,
    # PGRMZ, RTE) = 40221. The 4 '*** program startup/ENDED ***' lines are not NMEA; the blank
    # line after every epoch is not counted at all.
    "dotmorten__NmeaSampleData.nmea": (4469, {"not_nmea": 4, "unsupported_type": 40221}),
    # Table: 17 RMC, 4 void, 13 valid RMC epochs. The file is spliced: the "moving in car" part
    # (5 RMC epochs + the GGA/GLL/ZDA epoch 14:33:06.00) is 52 min EARLIER than the stationary
    # part before it, so those 6 epochs are stale: 5 lines each (RMC/GGA/GLL/ZDA/VTG) = 25 (the
    # table's "1 position/time jump"). Fixes: 8 valid RMC epochs 15:25:05.0-15:25:08.5 plus the
    # GLL+ZDA epoch 15:25:04.50 (GLL position, ZDA date) = 9. no_fix: 4 empty epochs x 5 lines.
    # Unsupported: GSV 36 + GSA 17 + TXT 6 = 59.
    "gpsd__bt451.nmea": (9, {"unsupported_type": 59, "no_fix": 20, "stale": 25}),
    # 25 RMC epochs, clean. Unsupported: GSA 25 + GSV 15.
    "gpsd__bu353s4.nmea": (25, {"unsupported_type": 40}),
    # 19 RMC epochs. Table: 34 garbage lines + 1 GSA whose checksum is cut by terminal escapes
    # ("*3<ESC>[H..."): we keep "$GPGSA,...*3" (an unsupported type) and count the escape tail as
    # a 35th garbage line. Unsupported: GSA 19 + GSV 12.
    "gpsd__et-332.nmea": (19, {"not_nmea": 35, "unsupported_type": 31}),
    # Demo mode: RMC status V (mode S) and GLL V = 18 + 18 no_fix, GGA quality 8 (simulation) =
    # 18 rejected_mode; no fix at all. Unsupported: GSV 54 + RMB/GSA/BOD 3x18 + PGRME/PGRMZ/RTE
    # 3x17 = 159 (the table's no-checksum line is "$GPBOD,,T,,M,,*", a BOD).
    "gpsd__garmin-geko201.nmea": (
        0,
        {"unsupported_type": 159, "no_fix": 36, "rejected_mode": 18},
    ),
    # The garbage file. Only one intact valid RMC (00:03:45.03, 2019-04-07); the other status-A RMC
    # (00:03:44.03) is truncated with a bad checksum. Checksums of used types, counted by hand per
    # '$' fragment: bad RMC 4 + GGA 6 + GLL 1 = 11; missing RMC 1 + VTG 1 = 2. The first epoch
    # (GGA+GLL+VTG at 00:03:43.03) precedes any date: no_date 3. not_nmea: 7 garbage tails
    # (NUL run, "0,*4E", "*43", ...) + 13 fragments with a cut address ($GPN, $GP, $11,
    # $GPV427.00, $GPG428.00) = 20. The table's per-line counts (23 bad-checksum, 10 no-checksum,
    # 15 non-NMEA) differ because glued lines are split into their sentences here and we only
    # check checksums of types we use. Everything after the reboot ($PLCS) is status V:
    # no_fix = RMC 15 + GGA 8 + VTG 8 + GLL 6 + 7 ZDA of void epochs = 44.
    "gpsd__gp-320fw-2019-04-07-coldboot.nmea": (
        1,
        {
            "not_nmea": 20,
            "unsupported_type": 60,
            "no_checksum": 2,
            "bad_checksum": 11,
            "no_fix": 44,
            "no_date": 3,
        },
    ),
    # 51 RMC epochs. The table's 46 bad-checksum lines are all $PGLOR, which we never checksum
    # (unsupported type) and which the table leaves out of its type counts (grep: 838 PGLOR =
    # 792 + 46). Unsupported: PGLOR 838 + GSV 153 + 102 + GSA 102 + 4 x 51 = 1399. Blank lines
    # (1501) are not counted.
    "gpsd__gpsdf.nmea": (51, {"unsupported_type": 1399}),
    # 74 RMC, 6 void -> 68. no_fix: 6 RMC V + 5 GGA q0 + 6 VTG mode N = 17. Unsupported GSV 79 +
    # GSA 26.
    "gpsd__haicom-305N.nmea": (68, {"unsupported_type": 105, "no_fix": 17}),
    # No RMC: the table's 21 GGA epochs with a position (19:40:50.0-19:41:00.0, 2 Hz) get their
    # date from ZDA (same epoch at full seconds, carried to the .5 epochs). no_fix: GGA q0 194 +
    # VTG mode N 194 + 97 ZDA-only epochs without position = 485. Unsupported: HDT 215.
    "gpsd__hemi.nmea": (21, {"unsupported_type": 215, "no_fix": 485}),
    # Time goes backwards 19:41:24 -> 19:41:11 (gpsd header). Forward part: 12 RMC + 6 GGA(+ZDA)
    # + 6 GLL epochs = 24 fixes. After the jump 5 RMC + 2 GGA + 2 GLL epochs are stale: lines
    # RMC 5 + GGA 2 + ZDA 2 + GLL 2 + VTG 2 = 13. Unsupported: DPT 33 + MTW 16.
    "gpsd__humminbird-M37.nmea": (24, {"unsupported_type": 49, "stale": 13}),
    # RMC only: 38 RMC, 17 void -> 21. Unsupported: RMB 38. Lowercase hex checksums accepted.
    "gpsd__magellan-ec10.nmea": (21, {"unsupported_type": 38, "no_fix": 17}),
    # 11 RMC, 7 void -> 4. The 11 $PMTKCHN lines are 203 chars: too_long. no_fix: 7 RMC V + 7 GGA
    # q0 + 7 VTG mode N. Unsupported: GSV 8 + POLYN 3 + GSA 3 + PMTK010 1.
    "gpsd__mtk-3301.nmea": (4, {"too_long": 11, "unsupported_type": 15, "no_fix": 21}),
    # 9 RMC epochs. Unsupported: GPGSV 29 + GLGSV 27 + GNGSA 18 + GNTXT 8.
    "gpsd__nl2008u.nmea": (9, {"unsupported_type": 82}),
    # 122 RMC epochs; GN GGA merged with GP RMC (talker-agnostic); nothing skipped.
    "gpsd__nmea-rtk.nmea": (122, {}),
    # 150 RMC epochs; the capture ends with GGA+GLL of 05:53:04.000 whose RMC was cut off: 151.
    # Unsupported: GPGSV 450 + GLGSV 450 + GNGSA 450 + BDGSV 150 + GPTXT 30.
    "gpsd__quectel-l76k-nmea.nmea": (151, {"unsupported_type": 1530}),
    # 30 RMC epochs. 30 of the 284 $PGLOR lines are 132-133 chars: too_long. Unsupported: the
    # other 254 PGLOR + GSV 90+60+60+37+1 + GSA 60+30 = 592.
    "gpsd__quectelLC79D.nmea": (30, {"too_long": 30, "unsupported_type": 592}),
    # 59 RMC epochs; $GLGGA repeats $GPGGA in every epoch: 59 duplicates. Unsupported: GNGSA 118 +
    # GPGSV 36 + GLGSV 36.
    "gpsd__sirfstarv-nmea.nmea": (59, {"unsupported_type": 190, "duplicate": 59}),
    # Table: 187 RMC epochs with a time (the 37 void RMC have no time at all). 10:51:53.71 is
    # followed by 10:51:53.408, so that epoch (RMC/GGA/GLL/VTG: 4 lines) is stale: 186.
    # no_fix: 37 empty epochs x 4 lines. Unsupported: GSV 438 + GSA 224.
    "gpsd__telit-he910.nmea": (186, {"unsupported_type": 662, "no_fix": 148, "stale": 4}),
    # Never a fix: 19 RMC V + 19 GGA q0. Unsupported: GSA 19 + GSV 6.
    "gpsd__tn200.nmea": (0, {"unsupported_type": 25, "no_fix": 38}),
    # 61 RMC epochs. Unsupported: GSA 244 + GSV 244+183+183+122 + GST 61 + GBS 61.
    "gpsd__ublox-neo-m9n-nmea.nmea": (61, {"unsupported_type": 1098}),
    # 20 RMC, 4 void -> 16; no_fix 4 RMC V + 4 GGA q0. $GYOACC (200) and $SNRSTAT (20) have
    # invalid addresses: not_nmea 220. Unsupported: GSV 160+160+120+40 + GSA 100 + TXT 41 +
    # $PDTINFO 1 = 622.
    "gpsd__unicore-um621.nmea": (16, {"not_nmea": 220, "unsupported_type": 622, "no_fix": 8}),
    # Logger that drops and repeats lines: 76 RMC epochs, but 95 distinct times carry a valid
    # GNRMC or GNGGA (grep | sort -u); GGA-only epochs take the date carried from the last RMC.
    # Repeats inside one epoch are duplicates: RMC 110 - 76 distinct times = 34, GGA 123 - 80
    # distinct = 43, and 33 repeated VTG = 110. no_fix: 5 RMC V + 5 GGA q0 + 6 GPVTG mode N.
    # Unsupported: GSV 693+397+325+269 + GSA 420+7 + DTM 111+5 + GNS 98+4 = 2329.
    "hardloader__nmea.nmea": (
        95,
        {"unsupported_type": 2329, "no_fix": 16, "duplicate": 110},
    ),
    # 360 RMC epochs; 360 "$GSENSORD,x,y,z" lines have an 8-letter address: not NMEA.
    # Unsupported: GSV 1440 + GSA 324.
    "leaflet-nmealayer__test.nmea": (360, {"not_nmea": 360, "unsupported_type": 1764}),
}


@pytest.mark.parametrize("name", all_recordings())
def test_recording_fixes_and_skip_counts(name: str) -> None:
    assert name in EXPECTED, "every recording needs expected counts"
    fixes, stats = replay(name)
    want_fixes, want_skipped = EXPECTED[name]
    assert stats["fixes"] == len(fixes) == want_fixes
    assert nonzero(stats["skipped"]) == want_skipped
    # Every line is accounted for exactly once.
    assert stats["sentences"] == stats["used"] + sum(stats["skipped"].values())
    assert set(stats["skipped"]) == set(REASONS)


@pytest.mark.parametrize("name", all_recordings())
def test_recording_fix_invariants(name: str) -> None:
    fixes, _ = replay(name)
    for prev, fix in zip([None, *fixes], fixes):
        assert fix.time.tzinfo is not None and fix.time.utcoffset() == timedelta(0)
        assert -90.0 <= fix.lat <= 90.0 and -180.0 <= fix.lon <= 180.0
        assert fix.speed_kmh is None or fix.speed_kmh >= 0.0
        if prev is not None:
            assert fix.time > prev.time  # stale epochs never leak out
        assert fix.flags <= {"dead_reckoning", "date_corrected", "time_reset"}


def _pynmea2_positions(name: str) -> dict[tuple[int, int, int, int], tuple[float, float, float | None]]:
    """Independent decoding: time of day -> (lat, lon, speed km/h) of valid RMC (else GGA/GLL)."""
    ref: dict[tuple[int, int, int, int], tuple[float, float, float | None]] = {}
    data = recording_path(name).read_bytes().replace(b"\r", b"\n")
    for raw in data.split(b"\n"):
        for piece in raw.split(b"$")[1:]:
            line = "$" + piece.decode("ascii", "replace")
            if "*" not in line:
                continue
            try:
                msg = pynmea2.parse(line, check=True)
            except (pynmea2.ParseError, ValueError, AttributeError):
                continue
            typ = getattr(msg, "sentence_type", "")
            if typ == "RMC" and msg.status == "A" and msg.timestamp:
                t = msg.timestamp
                key = (t.hour, t.minute, t.second, t.microsecond // 1000)
                knots = msg.spd_over_grnd
                ref.setdefault(key, (msg.latitude, msg.longitude, None if knots is None else knots * 1.852))
            elif typ in ("GGA", "GLL") and msg.timestamp and msg.lat:
                t = msg.timestamp
                key = (t.hour, t.minute, t.second, t.microsecond // 1000)
                if key not in ref:
                    ref[key] = (msg.latitude, msg.longitude, None)
    return ref


@pytest.mark.parametrize("name", all_recordings())
def test_decoding_agrees_with_pynmea2(name: str) -> None:
    """Our split-based decoder gives what pynmea2 gives for every fix (RMC wins over GGA/GLL)."""
    fixes, _ = replay(name)
    ref = _pynmea2_positions(name)
    for fix in fixes:
        t = fix.time
        lat, lon, speed = ref[(t.hour, t.minute, t.second, t.microsecond // 1000)]
        assert fix.lat == pytest.approx(lat, abs=1e-9)
        assert fix.lon == pytest.approx(lon, abs=1e-9)
        if speed is not None:
            assert fix.speed_kmh == pytest.approx(speed, rel=1e-9)


def test_sentences_equal_non_blank_lines_in_clean_recordings() -> None:
    # Where no line is glued or cut, one line = one sentence; blank lines do not count.
    for name in ("dotmorten__NmeaSampleData.nmea", "gpsd__gpsdf.nmea", "hardloader__nmea.nmea"):
        data = recording_path(name).read_bytes()
        lines = [ln for ln in data.replace(b"\r", b"\n").split(b"\n") if ln.strip()]
        _, stats = replay(name)
        assert stats["sentences"] == len(lines), name


def test_garmin_drive_crosses_midnight_utc() -> None:
    fixes, _ = replay("dotmorten__NmeaSampleData.nmea")
    days = sorted({f.time.date() for f in fixes})
    assert len(days) == 2 and days[1] - days[0] == timedelta(days=1)
    # 2 s cadence: most steps are exactly 2 s, also across midnight.
    steps = [(b.time - a.time).total_seconds() for a, b in zip(fixes, fixes[1:])]
    assert sum(1 for s in steps if s == 2.0) > 0.95 * len(steps)
    # HDOP and satellites come from GGA, speed from RMC.
    assert all(f.hdop is not None and f.satellites is not None and f.quality in (1, 2) for f in fixes)
    assert max(f.speed_kmh or 0.0 for f in fixes) == pytest.approx(108.3, abs=0.1)  # table


def test_hemi_gga_only_dates_from_zda() -> None:
    fixes, _ = replay("gpsd__hemi.nmea")
    assert [f.time for f in fixes][0] == datetime(2018, 9, 7, 19, 40, 50, tzinfo=UTC)
    assert fixes[-1].time == datetime(2018, 9, 7, 19, 41, 0, tzinfo=UTC)
    assert all(f.quality == 1 and f.hdop is not None for f in fixes)


def test_chunk_size_does_not_change_the_result() -> None:
    name = "gpsd__gp-320fw-2019-04-07-coldboot.nmea"
    whole = replay(name, chunk=1 << 20)
    for size in (1, 2, 3, 7, 64, 81):
        assert replay(name, chunk=size) == whole


# ---- GPS week rollover ---------------------------------------------------------------------


@pytest.mark.parametrize("name", all_recordings())
def test_batched_checksums_decide_like_line_by_line_feeding(name: str) -> None:
    # feed_bytes frames a chunk and dispatches its lines in one loop; feed() takes one framed
    # line at a time. Both must count and decode alike.
    data = recording_path(name).read_bytes()
    batched = FixAssembler(RECORDING_MIN_DATE)
    batched_fixes = batched.feed_bytes(data) + batched.close()
    single = FixAssembler(RECORDING_MIN_DATE)
    framer = LineFramer(single.counter)
    single_fixes = [f for line in framer.feed(data) + framer.flush() if (f := single.feed(line)) is not None]
    last = single.flush()
    single_fixes += [last] if last is not None else []
    assert single_fixes == batched_fixes
    assert single.stats() == batched.stats()


def test_live_min_date_corrects_pre_release_recordings() -> None:
    # Telit recording is from 2019-03-12: before LIVE_MIN_DATE (2026) it is read as a rollover.
    hist, _ = replay("gpsd__telit-he910.nmea")
    live, _ = replay("gpsd__telit-he910.nmea", min_date=LIVE_MIN_DATE)
    assert len(live) == len(hist)
    assert all("date_corrected" in f.flags for f in live)
    assert all(not f.flags for f in hist)
    assert live[0].time - hist[0].time == ROLLOVER
    # The Quectel L76K recording is from 2026-08-05, after the release: nothing to correct.
    l76k, _ = replay("gpsd__quectel-l76k-nmea.nmea", min_date=LIVE_MIN_DATE)
    assert l76k[0].time.date() == date(2026, 8, 5)
    assert not any(f.flags for f in l76k)


def test_gp320fw_week_zero_date_is_rolled_forward() -> None:
    # The gp-320fw ships RMC dates of 1999-08-22 (GPS week 0) after its reboot, all void. Take its
    # real void line and make it valid (status A, mode A, a position): 1999 -> 2019-04-07.
    line = nmea("GPRMC,000425.00,A,4808.9993,N,01135.0798,E,000.1,000.0,220899,,,A")
    nxt = nmea("GPRMC,000426.00,A,4808.9993,N,01135.0798,E,000.1,000.0,220899,,,A")
    asm = FixAssembler(RECORDING_MIN_DATE)
    assert asm.feed(line) is None
    fix = asm.feed(nxt)
    assert fix is not None
    assert fix.time == datetime(2019, 4, 7, 0, 4, 25, tzinfo=UTC)
    assert "date_corrected" in fix.flags
    # The same from the recording's own ZDA lines (the date source of GGA-only receivers).
    asm = FixAssembler(RECORDING_MIN_DATE)
    asm.feed(nmea("GPGGA,000427.00,4808.9993,N,01135.0798,E,1,04,01.4,00460.0,M,0046.2,M,,"))
    asm.feed(b"$GPZDA,000427.00,22,08,1999,,*67")  # verbatim from the recording
    fix = asm.flush()
    assert fix is not None and fix.time == datetime(2019, 4, 7, 0, 4, 27, tzinfo=UTC)
    assert fix.flags == {"date_corrected"}


def test_dates_that_cannot_be_rollovers_are_bad_date() -> None:
    asm = FixAssembler(LIVE_MIN_DATE)
    # 1980-01-05 is before the GPS epoch (mtk-3301 prints it while void); 1985 is 3 rollovers
    # before 2026; 31 Feb does not exist.
    for ddmmyy in ("050180", "010185", "310226"):
        asm.feed(nmea(f"GPRMC,120000.00,A,5212.98,N,00653.10,E,0.0,0.0,{ddmmyy},,,A"))
        assert asm.flush() is None
    assert asm.counter.skipped["bad_date"] == 3
    assert asm.counter.fixes == 0


# ---- modes and validity ----------------------------------------------------------------------


def _one(*lines: bytes, min_date: date = RECORDING_MIN_DATE) -> tuple[Fix | None, SkipCounter]:
    asm = FixAssembler(min_date)
    out = [f for ln in lines if (f := asm.feed(ln)) is not None]
    last = asm.flush()
    if last is not None:
        out.append(last)
    assert len(out) <= 1
    return (out[0] if out else None), asm.counter


RMC = "GPRMC,101500.00,A,5212.9821,N,00653.1014,E,12.5,87.0,230808,,,{mode}"
GGA = "GNGGA,101500.00,5212.9821,N,00653.1014,E,{q},09,0.9,40.0,M,47.0,M,,"


@pytest.mark.parametrize("mode", ["M", "S"])
def test_rmc_manual_and_simulator_modes_are_rejected(mode: str) -> None:
    fix, c = _one(nmea(RMC.format(mode=mode)), nmea(GGA.format(q=1)))
    assert fix is None
    # The RMC itself and the GGA of the same (vetoed) epoch.
    assert c.skipped["rejected_mode"] == 2 and c.used == 0


def test_rmc_dead_reckoning_is_flagged_and_merged_with_gga() -> None:
    fix, c = _one(nmea(RMC.format(mode="E")), nmea(GGA.format(q=6)))
    assert fix is not None and fix.flags == {"dead_reckoning"}
    assert fix.time == datetime(2008, 8, 23, 10, 15, tzinfo=UTC)
    assert fix.lat == pytest.approx(52 + 12.9821 / 60) and fix.lon == pytest.approx(6 + 53.1014 / 60)
    assert fix.speed_kmh == pytest.approx(12.5 * 1.852) and fix.course_deg == 87.0
    assert (fix.hdop, fix.satellites, fix.quality) == (0.9, 9, 6)
    assert c.used == 2


def test_autonomous_fix_has_no_flags_and_mode_n_is_no_fix() -> None:
    fix, _ = _one(nmea(RMC.format(mode="A")))
    assert fix is not None and fix.flags == frozenset() and fix.quality is None
    fix, c = _one(nmea(RMC.format(mode="N")))
    assert fix is None and c.skipped["no_fix"] == 1


@pytest.mark.parametrize(("q", "reason"), [("0", "no_fix"), ("7", "rejected_mode"), ("8", "rejected_mode")])
def test_gga_quality_without_a_real_fix(q: str, reason: str) -> None:
    fix, c = _one(nmea(RMC.format(mode="A")), nmea(GGA.format(q=q)))
    assert fix is None and c.skipped[reason] == 2


def test_status_v_vetoes_the_epoch() -> None:
    void = RMC.format(mode="A").replace(",A,5212", ",V,5212")
    fix, c = _one(nmea(void), nmea(GGA.format(q=1)))
    assert fix is None and c.skipped["no_fix"] == 2


def test_missing_checksum_is_rejected_although_pynmea2_accepts_it_by_default() -> None:
    line = "$" + RMC.format(mode="A")
    pynmea2.parse(line)  # pynmea2's default (check=False) takes a line without checksum
    with pytest.raises(pynmea2.ChecksumError):
        pynmea2.parse(line, check=True)  # 1.19 with check=True does refuse it
    fix, c = _one(line.encode())
    assert fix is None and c.skipped["no_checksum"] == 1


def test_flipped_byte_is_a_bad_checksum() -> None:
    good = nmea(RMC.format(mode="A"))
    bad = good.replace(b"5212.9821", b"5212.9831")
    fix, c = _one(bad)
    assert fix is None and c.skipped["bad_checksum"] == 1


def test_lowercase_checksum_hex_is_accepted() -> None:
    # Magellan writes "*4a"; pick a sentence whose checksum has a hex letter and lowercase it.
    line = next(
        ln for k in range(50) if not (ln := nmea(RMC.format(mode="A").replace("12.5", f"{k}.5")))[-2:].isdigit()
    )
    fix, _ = _one(line[:-2] + line[-2:].lower())
    assert fix is not None


def test_talkers_do_not_matter_but_proprietary_does() -> None:
    for talker in ("GP", "GN", "GL", "GA", "GB", "BD", "IN", "QZ"):
        fix, _ = _one(nmea(RMC.format(mode="A").replace("GPRMC", talker + "RMC")))
        assert fix is not None, talker
    fix, c = _one(nmea(RMC.format(mode="A").replace("GPRMC", "PGRMC")))
    assert fix is None and c.skipped["unsupported_type"] == 1


def test_stale_and_resync() -> None:
    asm = FixAssembler(RECORDING_MIN_DATE, stale_resync=5)
    times = [f"1015{s:02d}.00" for s in (10, 11, 12)] + [f"1000{s:02d}.00" for s in range(10)]
    out = []
    for t in times:
        fix = asm.feed(nmea(RMC.format(mode="A").replace("101500.00", t)))
        if fix is not None:
            out.append(fix)
    out.extend(f for f in [asm.flush()] if f is not None)
    # 3 forward, then 4 stale epochs, the 5th in a row resets the timeline, then 5 more follow it.
    assert asm.counter.skipped["stale"] == 4
    assert [f.time.second for f in out] == [10, 11, 12, 4, 5, 6, 7, 8, 9]
    assert [sorted(f.flags) for f in out][3] == ["time_reset"]


def test_frozen_timestamp_is_stale_forever() -> None:
    # After losing lock some receivers repeat their last RMC; here other timed sentences (ZDA one
    # second earlier) split the repeats into epochs of their own. However many: never a reset.
    rmc = nmea(RMC.format(mode="A").replace("101500.00", "101510.00"))
    zda = nmea("GPZDA,101509.00,23,08,2008,00,00")
    asm = FixAssembler(RECORDING_MIN_DATE, stale_resync=5)
    fixes = [asm.feed(rmc)]
    for _ in range(40):
        fixes += [asm.feed(zda), asm.feed(rmc)]
    fixes.append(asm.flush())
    assert len([f for f in fixes if f is not None]) == 1
    assert asm.counter.skipped["stale"] == 40  # the repeated RMC
    assert asm.counter.skipped["no_fix"] == 40  # the ZDA epochs: a date but no position


def test_gga_only_receiver_carries_the_date_over_midnight() -> None:
    gga = "GPGGA,{t},4221.8237,N,07101.9411,W,1,05,1.4,10.8,M,-33.3,M,,"
    lines = [nmea(gga.format(t="235958.00")), nmea("GPZDA,235958.00,31,12,2018,00,00")]
    lines += [nmea(gga.format(t=t)) for t in ("235959.00", "000000.00", "000001.00")]
    asm = FixAssembler(RECORDING_MIN_DATE)
    fixes = [asm.feed(ln) for ln in lines] + [asm.flush()]
    assert [f.time for f in fixes if f] == [
        datetime(2018, 12, 31, 23, 59, 58, tzinfo=UTC),
        datetime(2018, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2019, 1, 1, 0, 0, 0, tzinfo=UTC),
        datetime(2019, 1, 1, 0, 0, 1, tzinfo=UTC),
    ]


def test_gga_without_any_date_is_no_date() -> None:
    fix, c = _one(nmea(GGA.format(q=1)))
    assert fix is None and c.skipped["no_date"] == 1


# ---- framing -------------------------------------------------------------------------------

L1 = nmea("GPRMC,101500.00,A,5212.9821,N,00653.1014,E,12.5,87.0,230808,,,A")
L2 = nmea("GPGGA,101500.00,5212.9821,N,00653.1014,E,1,09,0.9,40.0,M,47.0,M,,")
L3 = nmea("GPRMC,101501.00,A,5212.9822,N,00653.1015,E,12.5,87.0,230808,,,A")


def frame(*chunks: bytes) -> tuple[list[bytes], SkipCounter]:
    c = SkipCounter()
    fr = LineFramer(c)
    out = [line for ch in chunks for line in fr.feed(ch)]
    out += fr.flush()
    return out, c


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r", b"\n\r", b"\r\r\n"])
def test_any_line_ending(eol: bytes) -> None:
    out, c = frame(L1 + eol + L2 + eol + L3 + eol)
    assert out == [L1, L2, L3] and c.skipped["not_nmea"] == 0


def test_mixed_line_endings_and_blank_lines() -> None:
    out, c = frame(L1 + b"\r\n\r\n" + L2 + b"\n\n\n" + L3 + b"\r")
    assert out == [L1, L2, L3] and c.sentences == 0


def test_ubx_binary_between_sentences() -> None:
    # A UBX NAV-PVT header and payload bytes, including '$', '\n' and '*' inside the binary.
    ubx = bytes([0xB5, 0x62, 0x01, 0x07, 0x5C, 0x00]) + bytes(range(0, 256, 3)) + b"\xb5b\x05\x01\x02\x00\x06\x01\x0f\x38"
    out, c = frame(L1 + b"\r\n" + ubx + L2 + b"\r\n" + L3 + b"\r\n")
    assert out[0] == L1 and out[-2:] == [L2, L3]
    assert c.skipped["not_nmea"] >= 1
    # Whatever the binary produced as candidates is rejected by the assembler, not by a crash.
    asm = FixAssembler(RECORDING_MIN_DATE, c)
    fixes = [f for ln in out if (f := asm.feed(ln))] + [asm.flush()]
    assert [f.time.second for f in fixes if f] == [0, 1]


def test_nul_bytes_and_half_lines() -> None:
    half = L1[:30]
    out, c = frame(half + b"\x00" * 12 + b"   \r\n" + L2 + b"\r\n" + L3[:20] + b"\r\n" + L3 + b"\r\n")
    assert out == [half, L2, L3[:20], L3]
    assert c.skipped["not_nmea"] == 1  # the NUL run


def test_glued_sentences_are_split() -> None:
    out, _ = frame(L1 + L2 + b"\r\n" + L2[:-3] + L3 + b"\r\n")
    assert out == [L1, L2, L2[:-3], L3]
    # Garbage after a complete checksum is cut off and counted, the sentence is kept.
    out, c = frame(L1 + b"0,*4E\r\n")
    assert out == [L1] and c.skipped["not_nmea"] == 1


def test_sentence_split_at_every_byte_offset() -> None:
    stream = b"junk" + L1 + b"\r\n" + L2 + b"\r\n" + L3 + b"\n"
    want, want_c = frame(stream)
    assert want == [L1, L2, L3]
    for i in range(len(stream) + 1):
        for j in range(i, len(stream) + 1, 7):
            out, c = frame(stream[:i], stream[i:j], stream[j:])
            assert out == want, (i, j)
            assert c.skipped == want_c.skipped
    # One byte at a time.
    out, _ = frame(*(stream[k : k + 1] for k in range(len(stream))))
    assert out == want


def test_sentences_without_any_line_break() -> None:
    # Some loggers and gpsd relays glue everything: a '$' must end the previous candidate, and
    # the bounded buffer must never cut a sentence in two.
    stream = (L1 + L2 + L3) * 10
    for size in (1, 13, 64, 200, 500):
        out, c = frame(*(stream[i : i + size] for i in range(0, len(stream), size)))
        assert out == [L1, L2, L3] * 10, size
        assert c.sentences == 0


def test_overlong_lines_are_capped_and_memory_stays_bounded() -> None:
    fr = LineFramer(max_line=120)
    long_line = b"$PMTKCHN," + b"21422," * 40 + b"0\r\n"
    assert fr.feed(long_line + L1 + b"\r\n") == [L1]
    assert fr.counter.skipped["too_long"] == 1
    # 1 MB of printable garbage without any line break or '$': the framer keeps a bounded tail.
    blob = b"A" * 4096
    for _ in range(256):
        assert fr.feed(blob) == []
        assert len(fr._tail) <= 2 * 120
    assert fr.feed(b"\r\n" + L3 + b"\r\n") == [L3]


def test_read_fixes_and_stats() -> None:
    asm = FixAssembler(RECORDING_MIN_DATE)
    data = L1 + b"\r\n" + L2 + b"\r\nnoise\r\n" + L3 + b"\r\n"
    fixes = list(read_fixes([data[:17], data[17:]], asm))
    assert [f.time.second for f in fixes] == [0, 1]
    stats = asm.stats()
    assert stats["sentences"] == 4 and stats["used"] == 3 and stats["fixes"] == 2
    assert nonzero(stats["skipped"]) == {"not_nmea": 1}
    assert math.isclose(fixes[0].hdop or 0.0, 0.9)


def test_debug_log_names_reasons_but_never_positions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="device.nmea")
    fixes, stats = replay("gpsd__gp-320fw-2019-04-07-coldboot.nmea")
    messages = [r.getMessage() for r in caplog.records]
    assert any("bad_checksum" in m for m in messages) and any("no_date" in m for m in messages)
    # The receiver sat at 48 08.999 N 11 35.079 E: no fragment of it may reach the log.
    for m in messages:
        assert "4808" not in m and "1135" not in m and "48.1" not in m


@pytest.mark.parametrize(("tod", "expected"), [
    ("101560.50", datetime(2008, 8, 23, 10, 16, 0, 500_000, tzinfo=UTC)),  # leap second: next :00
    ("235960.00", datetime(2008, 8, 24, 0, 0, 0, tzinfo=UTC)),  # ... also at midnight
    ("235959.999", datetime(2008, 8, 23, 23, 59, 59, 999_000, tzinfo=UTC)),
])
def test_leap_second_and_end_of_day_times(tod: str, expected: datetime) -> None:
    rmc = RMC.format(mode="A").replace("101500.00", tod)
    fix, c = _one(nmea(rmc))
    assert fix is not None and fix.time == expected
    assert c.used == 1 and sum(c.skipped.values()) == 0


@pytest.mark.parametrize("name", all_recordings())
def test_rmc_fast_path_decides_like_the_field_by_field_path(name: str) -> None:
    class AlwaysSlow(FixAssembler):
        def _rmc_fast(self, text: str) -> bool:
            return False

    data = recording_path(name).read_bytes()
    results = []
    for cls in (FixAssembler, AlwaysSlow):
        asm = cls(RECORDING_MIN_DATE)
        results.append((asm.feed_bytes(data) + asm.close(), asm.stats()))
    assert results[0] == results[1]


def test_gga_satellites_and_hdop_the_same_on_every_repetition() -> None:
    # Satellites come from a table of 1-3 digit strings and HDOP from a per-assembler cache:
    # a value seen before must decode as it did the first time, a bad one to None each time.
    cases = [("09", "0.9", 9, 0.9), ("9", "", 9, None), ("", "x1", None, None), ("1234", "12.", None, 12.0),
             ("009", "9" * 13, 9, None), ("+9", "0.9", None, 0.9), ("09", ".5", 9, 0.5), ("9 ", "1.0.0", None, None)]
    asm = FixAssembler(RECORDING_MIN_DATE)
    out = []
    for second, (sats, hdop, _, _) in enumerate(cases * 2):
        t = f"1015{second:02d}.00"
        for line in (nmea(f"GPRMC,{t},A,5212.9821,N,00653.1014,E,12.5,87.0,230808,,,A"),
                     nmea(f"GPGGA,{t},5212.9821,N,00653.1014,E,1,{sats},{hdop},40.0,M,47.0,M,,")):
            if (fix := asm.feed(line)) is not None:
                out.append(fix)
    last = asm.flush()
    out += [last] if last is not None else []
    assert [(f.satellites, f.hdop) for f in out] == [(s, h) for _, _, s, h in cases * 2]
