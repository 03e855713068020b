"""The `ritbox` command: run the daemon, replay recordings, inspect the store, flip privacy.

Errors are one line on stderr and a non-zero exit status, never a traceback: this module's
`main` is the one place that decides what an error does (RitboxError and OS errors: status 1;
anything unexpected: status 2 with the exception's type, the traceback only with -v).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

from device import chain, enroll as enroll_mod, sync
from device.config import ConfigError, DeviceConfig, load_config
from device.errors import RitboxError
from device.model import Gap, TripMode, TripRecord
from device.nmea import LIVE_MIN_DATE, RECORDING_MIN_DATE
from device.pipeline import ModeChange, Pipeline
from device.record import gap_json
from device.privacy import (
    ControlError,
    ControlServer,
    DaemonNotRunning,
    GpioButton,
    GpioUnavailable,
    PrivacySwitch,
    privacy_handler,
    send_command,
)
from device.source import ByteSource, GpsdSource, ReplaySource, SerialSource
from device.store import Store
from device.trips import GapRecorded, TripClosed, TripEvent, TripSettings

log = logging.getLogger("ritbox")
# Ignition off (device.ignition): the upload that follows, once the trip it ended is written.
IGNITION_SYNC_DELAY_S = 3.0


class UsageError(RitboxError):
    """The command line does not make sense."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog.split()[0]} --help)\n")


# ------------------------------------------------------------------- helpers


def _setup_logging(verbose: bool, daemon: bool) -> None:
    level = logging.DEBUG if verbose else (logging.INFO if daemon else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    # journald adds its own timestamps; a person at a terminal wants the short form.
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if daemon else "ritbox: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def trip_settings(config: DeviceConfig) -> TripSettings:
    """TripSettings with the config's [trips] overrides; an unknown or bad key is a ConfigError."""
    known = {f.name: f for f in fields(TripSettings)}
    values: dict[str, Any] = {}
    where = str(config.path) if config.path else "config"
    for key, value in config.trips.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r} in [trips] (known: {', '.join(sorted(known))})")
        expected = type(getattr(TripSettings(), key))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: [trips] {key} must be a number, not {value!r}")
        values[key] = expected(value)
    return TripSettings(**values)


def open_store(path: str | Path, config: DeviceConfig, *, durable: bool = True) -> Store:
    """Open (or create) the store and apply the configured privacy policy and sealing key."""
    store_path = Path(path)
    try:
        store_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RitboxError(f"cannot create the folder for the store {store_path}: {exc.strerror or exc}") from None
    store = Store(store_path, durable=durable, flush_interval_s=config.store.flush_interval_s)
    try:
        # Once enrolled, the policy is the backend's (enrollment and every sync answer carry the
        # agreement's); the config's value only applies to a device that was never enrolled.
        if store.device_id is None and store.policy is not config.privacy.private_positions:
            store.set_policy(config.privacy.private_positions)
        key = config.sealing_key_text()
        if key is not None:
            store.set_sealing_key(key)  # the store skips an unchanged key (no extra commit)
    except BaseException:
        store.close()
        raise
    return store


def _existing_store(path: str | Path) -> Store:
    if not Path(path).exists():
        raise RitboxError(f"no trip store at {path}")
    return Store(path)


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not an ISO 8601 time: {text!r} (e.g. 2005-09-26T00:40:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # NMEA time is UTC
    return value.astimezone(timezone.utc)


def trip_json(record: TripRecord) -> dict[str, Any]:
    """The position-free summary of a trip that `replay --json` prints."""
    return {
        "started_at": chain.iso_utc(record.started_at),
        "ended_at": chain.iso_utc(record.ended_at),
        "distance_km": chain.km(record.distance_km),
        "odometer_start_km": chain.km(record.odometer_start_km),
        "odometer_end_km": chain.km(record.odometer_end_km),
        "mode": TripMode(record.mode).value,
        "flags": sorted(record.flags),
        "gaps": [gap_json(g) for g in record.gaps],
    }


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


# ------------------------------------------------------------------- replay


def cmd_replay(args: argparse.Namespace, config: DeviceConfig) -> int:
    if args.speed <= 0:
        raise UsageError("--speed must be greater than 0")
    schedule: list[ModeChange] = []
    initial = TripMode.PRIVATE if args.private else TripMode.BUSINESS
    if args.private_from is not None:
        schedule.append(ModeChange(_parse_time(args.private_from), TripMode.PRIVATE))
    if args.private_until is not None:
        until = _parse_time(args.private_until)
        if args.private_from is None:
            initial = TripMode.PRIVATE  # private from the start until then
        elif until <= schedule[0].at:
            raise UsageError("--private-until must be after --private-from")
        schedule.append(ModeChange(until, TripMode.BUSINESS))
    settings = trip_settings(config)
    odometer = args.odometer if args.odometer is not None else config.odometer.initial_km
    source = ReplaySource(args.file, realtime=not args.fast, speed=args.speed)

    records: list[TripRecord] = []
    between: list[Gap] = []

    def collect(event: TripEvent) -> None:
        if isinstance(event, GapRecorded):
            between.append(event.gap)
        elif isinstance(event, TripClosed):
            records.append(event.record)
            if not args.json:
                print(_trip_line(trip_json(event.record)), flush=True)

    with contextlib.ExitStack() as cleanup:
        if args.store:
            store_path, durable = Path(args.store), True
        else:
            # A throw-away store need not wait for the disk; one given with --store is durable.
            tmp = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="ritbox-replay-", dir=_scratch_dir()))
            store_path, durable = Path(tmp) / "replay.db", False
        store = open_store(store_path, config, durable=durable)
        try:
            pipeline = Pipeline(
                store, settings=settings, odometer_km=odometer, mode=initial,
                min_date=RECORDING_MIN_DATE,  # historical dates in recordings are real, not rollovers
                schedule=schedule, on_event=collect,
            )
            pipeline.run(source)
            pipeline.finish()
            stats = pipeline.stats()
        finally:
            store.close()

    summary = {
        "file": str(args.file),
        "sentences": stats["sentences"],
        "skipped": stats["skipped"],
        "fixes": stats["fixes"],
        "rejected_fixes": stats["rejected_fixes"],
        "trips": [trip_json(r) for r in records],
        "gaps_between_trips": [gap_json(g) for g in between],
        "power_loss_closed": stats["power_loss_closed"],
        "resumed": stats["resumed"],
    }
    if args.json:
        _print_json(summary)
    else:
        skipped = ", ".join(f"{k} {v}" for k, v in stats["skipped"].items() if v) or "none"
        print(f"{stats['sentences']} sentences, {stats['fixes']} fixes, {len(records)} trips; skipped: {skipped}")
    return 0


def _scratch_dir() -> str | None:
    """Where a throw-away replay store goes: RAM (/dev/shm) when there is one, as nothing
    needs to survive and its fsyncs would only wear the disk; else the default temp dir."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _trip_line(trip: dict[str, Any]) -> str:
    flags = f" [{', '.join(trip['flags'])}]" if trip["flags"] else ""
    return (
        f"{trip['started_at']} -> {trip['ended_at']}  {trip['distance_km']:9.3f} km  "
        f"odometer {trip['odometer_start_km']:.3f} -> {trip['odometer_end_km']:.3f}  {trip['mode']}{flags}"
    )


# ------------------------------------------------------------------- trips, status


def cmd_trips(args: argparse.Namespace, config: DeviceConfig) -> int:
    store = _existing_store(args.store or config.store.path)
    try:
        rows = []
        for stored in store.closed_trips():
            body = json.loads(stored.body)
            rows.append({
                "seq": stored.seq,
                "trip_id": stored.trip_id,
                "started_at": body["started_at"],
                "ended_at": body["ended_at"],
                "distance_km": body["distance_km"],
                "odometer_start_km": body["odometer_start_km"],
                "odometer_end_km": body["odometer_end_km"],
                "mode": body["mode"],
                "flags": body["flags"],
                "gaps": body["gaps"],
                "track_points": len(body.get("track") or []),
                "sealed": body.get("start_sealed") is not None or body.get("end_sealed") is not None,
                "uploaded": stored.acked,
                "hash": stored.hash,
            })
        broken = store.verify_chain()
    finally:
        store.close()
    if args.json:
        _print_json({"trips": rows, "chain_ok": broken is None, "first_broken_seq": broken})
        return 0
    for row in rows:
        print(f"#{row['seq']:<5} " + _trip_line(row))
    print(f"{len(rows)} trips; chain {'intact' if broken is None else f'BROKEN at seq {broken}'}")
    return 0 if broken is None else 1


def cmd_status(args: argparse.Namespace, config: DeviceConfig) -> int:
    socket_path = args.socket or config.control.socket
    daemon: dict[str, Any] | None = None
    try:
        answer = send_command(socket_path, {"cmd": "status"})
        if answer.get("ok"):
            daemon = answer
    except DaemonNotRunning:
        daemon = None
    if daemon is not None and not args.store:
        status = {"daemon": "running", **{k: v for k, v in daemon.items() if k != "ok"}}
    else:
        store = _existing_store(args.store or config.store.path)
        try:
            status = {
                "daemon": "running" if daemon is not None else "not running",
                "private": store.get_meta("private_mode") == TripMode.PRIVATE.value,
                "store": store.status(),
                "sync": sync.sync_status(store),
            }
        finally:
            store.close()
    if args.json:
        _print_json(status)
        return 0
    _print_status(status)
    return 0


def _print_status(status: dict[str, Any]) -> None:
    store = status.get("store", {})
    print(f"daemon:        {status['daemon']}")
    print(f"privacy:       {'PRIVATE' if status.get('private') else 'business'}")
    trip = store.get("open_trip")
    if trip:
        print(f"open trip:     {trip['mode']} since {trip['started_at']}, {trip['distance_km']} km so far")
    else:
        print("open trip:     none")
    print(f"pending:       {store.get('pending', 0)} trips waiting for upload")
    print(f"chain head:    seq {store.get('chain_head', {}).get('seq', 0)}")
    pipe = status.get("pipeline")
    if pipe and pipe.get("odometer_km") is not None:
        print(f"odometer:      {pipe['odometer_km']:.3f} km (live)")
    else:
        print(f"odometer:      {store.get('odometer_km')} km (after the last closed trip)")
    if pipe:
        print(f"source:        {pipe.get('source')}{' (ended)' if pipe.get('source_ended') else ''}")
        print(f"car (OBD):     {car_line(pipe.get('car'))}")
    if store.get("nearly_full"):
        print(f"WARNING:       the outbox is nearly full ({store.get('pending')} of {store.get('max_pending')})")
    synced = status.get("sync")
    if synced is not None:
        print(f"backend:       {synced.get('backend_url') or 'not enrolled'}"
              + (f" as device {store.get('device_id')}" if store.get("device_id") else ""))
        print(f"last sync:     {synced.get('last_attempt') or 'never'}"
              + (f" ({synced['last_result']})" if synced.get("last_result") else ""))
        print(f"last success:  {synced.get('last_success') or 'never'}")
        if synced.get("error"):
            print(f"SYNC ERROR:    {synced['error']}")
        if synced.get("clock_offset_s"):
            print(f"clock offset:  {synced['clock_offset_s']:+.0f} s (from the backend's clock)")
    counters = store.get("counters", {})
    if counters:
        print("counters:      " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))


def car_line(car: dict[str, Any] | None) -> str:
    """One line on the OBD link for `ritbox status`."""
    if car is None:
        return "off ([obd] enabled = false): GPS km and manual calibration"
    if not car.get("connected"):
        return "no adapter answering: GPS km until it does"
    engine = {True: "engine on", False: "engine off", None: "engine unknown"}[car.get("engine_on")]
    if car.get("odometer") == "absent":
        return f"connected, {engine}; this car does not report its odometer (PID A6): GPS km and manual calibration as before"
    if car.get("odometer") == "car" and car.get("odometer_km") is not None:
        return f"connected, {engine}; odometer {car['odometer_km']:.1f} km from the car"
    return f"connected, {engine}; odometer not read yet"


# ------------------------------------------------------------------- private


def cmd_private(args: argparse.Namespace, config: DeviceConfig) -> int:
    socket_path = args.socket or config.control.socket
    answer = send_command(socket_path, {"cmd": "private", "value": args.value})
    if not answer.get("ok"):
        raise ControlError(str(answer.get("message") or answer.get("error") or "the daemon refused"))
    state = "on" if answer.get("private") else "off"
    if args.value == "status":
        print(f"private mode is {state}")
    elif answer.get("changed"):
        print(f"private mode is now {state}")
    else:
        print(f"private mode was already {state}")
    return 0


# ------------------------------------------------------------------- sync


def make_syncer(store: Store, store_path: str | Path, config: DeviceConfig, *, url: str | None = None,
                state_dir: str | None = None, batch_size: int = sync.DEFAULT_BATCH) -> sync.Syncer:
    """A Syncer for this store: the backend address from --url, else [backend] url, else the
    one the device enrolled at; the device key from --state-dir, else the store's folder."""
    base = url or config.backend.url or store.get_meta("backend_url") or ""
    folder = Path(state_dir) if state_dir else Path(store_path).parent
    return sync.Syncer(store, base, folder, batch_size=batch_size)


def cmd_sync(args: argparse.Namespace, config: DeviceConfig) -> int:
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    store_path = args.store or config.store.path
    store = _existing_store(store_path)
    try:
        result = make_syncer(store, store_path, config, url=args.url, state_dir=args.state_dir,
                             batch_size=args.batch).sync_once(heartbeat=True)
    finally:
        store.close()
    if args.json:
        _print_json(result.to_json())
    else:
        print(result.summary())
        if result.nearly_full:
            print("warning: the outbox is nearly full")
    return 0 if result.ok else 1


# ------------------------------------------------------------------- run


def build_source(config: DeviceConfig) -> ByteSource:
    src = config.source
    if src.kind == "serial":
        return SerialSource(src.serial_port, src.baud)
    if src.kind == "gpsd":
        return GpsdSource(src.gpsd_host, src.gpsd_port)
    if not src.replay_file:
        raise ConfigError("[source] kind = \"replay\" needs replay_file")
    return ReplaySource(src.replay_file, realtime=src.replay_realtime, speed=src.replay_speed)


def start_obd(config: DeviceConfig) -> Any:
    """The OBD source on its own thread when [obd] is enabled, else None. It never blocks the
    NMEA path: the pipeline only reads its latest state (device.obd_source)."""
    if not config.obd.enabled:
        return None
    from device.obd_source import ObdSource  # python-OBD only where OBD is used

    baud = None if config.obd.baud == "auto" else int(config.obd.baud)
    # The odometer at each store flush (a trip's start and end fall in stand-stills longer than
    # that), the supply voltage once a minute: see benchmarks/device_pipeline.py --obd.
    car = ObdSource(config.obd.port, baud, poll_s=config.obd.poll_s,
                    odometer_s=config.store.flush_interval_s, voltage_s=60.0)
    car.start()
    log.info("OBD: polling the car every %g s on %s", config.obd.poll_s, config.obd.port)
    return car


class Daemon:
    """`ritbox run`: source -> pipeline, with the control socket and the GPIO button."""

    def __init__(self, config: DeviceConfig, store_path: str | None, socket_path: str | None,
                 *, sync_interval_s: float = sync.DEFAULT_INTERVAL_S, state_dir: str | None = None) -> None:
        self.config = config
        self.sync_interval_s = sync_interval_s
        self.state_dir = state_dir
        self.store_path = store_path or config.store.path
        self.socket_path = socket_path or config.control.socket
        self.stop_event = threading.Event()
        self.source: ByteSource | None = None
        self.source_ended = False
        self._lock = threading.Lock()  # feeding loop vs. status requests on the control thread
        self._syncer: sync.Syncer | None = None  # made by the sync job once the store is enrolled
        self._scheduler: Any = None
        self._warned_no_url = False

    def stop(self, *_: object) -> None:
        self.stop_event.set()
        if self.source is not None:
            self.source.stop()

    def run(self) -> int:
        config = self.config
        settings = trip_settings(config)
        self._refuse_second_instance()
        self.source = build_source(config)
        min_date = RECORDING_MIN_DATE if config.source.kind == "replay" else LIVE_MIN_DATE
        store = open_store(self.store_path, config)
        server: ControlServer | None = None
        gpio: GpioButton | None = None
        scheduler: Any = None
        car: Any = None
        ignition: Any = None
        try:
            switch = PrivacySwitch(store, clock=lambda: self._clock(pipeline))
            car = start_obd(config)
            ignition = self._start_ignition(config)
            pipeline = Pipeline(
                store, settings=settings, odometer_km=config.odometer.initial_km,
                mode=switch.mode, min_date=min_date, car=car, ignition=ignition,
            )
            switch.add_listener(lambda mode, at: pipeline.request_mode(mode))
            server = ControlServer(self.socket_path, privacy_handler(switch, self._status(store, pipeline)))
            server.start()
            if config.gpio.button_pin is not None or config.gpio.led_pin is not None:
                try:
                    with warnings.catch_warnings():
                        # gpiozero warns once per pin library it cannot load; if none works,
                        # GpioUnavailable below says so in one line.
                        warnings.filterwarnings("ignore", message="Falling back from")
                        gpio = GpioButton(switch, config.gpio.button_pin, config.gpio.led_pin)
                except GpioUnavailable as exc:
                    log.warning("privacy button unavailable: %s; use `ritbox private on|off`", exc)
            scheduler = self._start_sync(store)
            log.info("running: source %s, store %s, control socket %s", config.source.kind, self.store_path, self.socket_path)
            self._loop(pipeline)
            with self._lock:
                pipeline.shutdown()
            log.info("stopped; the open trip (if any) stays open and is resumed at the next start")
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=True)  # a pass in progress ends before the store closes
            if car is not None:
                car.stop()
            if ignition is not None:
                ignition.close()
            if gpio is not None:
                gpio.close()
            if server is not None:
                server.stop()
            store.close()
        return 0

    def _start_ignition(self, config: DeviceConfig) -> Any:
        """The ignition on a GPIO pin when [gpio] ignition_pin is set (device.ignition); at
        ignition off an upload starts a few seconds later, once the trip it ended is written."""
        if config.gpio.ignition_pin is None:
            return None
        from device.ignition import IgnitionSense
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Falling back from")
                return IgnitionSense(config.gpio.ignition_pin, active_high=config.gpio.ignition_active_high,
                                     on_off=self._sync_soon)
        except GpioUnavailable as exc:
            log.warning("ignition pin unavailable: %s; trips cut by the ignition close at the next start", exc)
            return None

    def _sync_soon(self) -> None:
        """Ignition off: upload in IGNITION_SYNC_DELAY_S (the pipeline ends the trip at its next
        chunk, within a second), not at the next interval, before a UPS HAT lets the power go."""
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.modify_job("sync", next_run_time=datetime.now(timezone.utc)
                                 + timedelta(seconds=IGNITION_SYNC_DELAY_S))

    def _start_sync(self, store: Store) -> Any:
        """The upload job: every sync_interval_s; the Syncer's backoff decides whether a real
        attempt happens. One instance at a time, missed runs coalesced into one. It runs before
        enrollment too: `ritbox enroll` may come after the service started (the install guide's
        order), and the job then picks the enrollment up from the store without a restart."""
        if store.device_id is None:
            log.info("not enrolled: trips stay on the device until `ritbox enroll URL TOKEN` "
                     "(the running daemon picks it up by itself)")
        from apscheduler.schedulers.background import BackgroundScheduler

        # Its INFO lines ("Running job ...") would fill the journal every interval.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(self._sync_tick, "interval", seconds=self.sync_interval_s, id="sync",
                          args=(store,), max_instances=1, coalesce=True,
                          next_run_time=datetime.now(timezone.utc))  # first pass at start-up
        scheduler.start()
        self._scheduler = scheduler
        return scheduler

    def _sync_tick(self, store: Store) -> None:
        if self._syncer is None:
            if store.device_id is None:
                store.reload_meta()  # one small SELECT per interval while unenrolled
                if store.device_id is None:
                    return
            syncer = make_syncer(store, self.store_path, self.config, state_dir=self.state_dir)
            if not syncer.url:
                if not self._warned_no_url:
                    log.warning("no backend address ([backend] url): trips stay on the device")
                    self._warned_no_url = True
                return
            self._syncer = syncer
            log.info("sync every %g s to %s", self.sync_interval_s, syncer.url)
        self._syncer.run_due()

    def _refuse_second_instance(self) -> None:
        """Before touching the store: a second daemon would close the first one's open trip."""
        try:
            send_command(self.socket_path, {"cmd": "status"})
        except ControlError:
            return  # nobody answers (no socket, a stale one, or no permission: start() decides)
        raise ControlError(f"another ritbox daemon is already running (socket at {self.socket_path})")

    @staticmethod
    def _clock(pipeline: Pipeline | None) -> datetime:
        at = pipeline.last_fix_time if pipeline is not None else None
        return at if at is not None else datetime.now(timezone.utc)

    def _loop(self, pipeline: Pipeline) -> None:
        assert self.source is not None
        for chunk in self.source:
            with self._lock:
                pipeline.feed(chunk)
            if self.stop_event.is_set():
                return
        if self.stop_event.is_set():
            return
        # Only a replay source ends. Keep serving (privacy switch, status) like a silent receiver.
        with self._lock:
            pipeline.drain()
            self.source_ended = True
        log.info("the replay source ended; waiting for SIGTERM")
        while not self.stop_event.wait(0.1):
            with self._lock:
                pipeline.feed(b"")  # applies a privacy switch at the latest fix

    def _status(self, store: Store, pipeline: Pipeline):
        def status() -> dict[str, Any]:
            with self._lock:  # the feeding loop holds it per chunk: a consistent picture
                stats = pipeline.stats()
            stats["source"] = self.config.source.kind
            stats["source_ended"] = self.source_ended
            return {"pipeline": stats, "store": store.status(), "sync": sync.sync_status(store)}

        return status


def cmd_run(args: argparse.Namespace, config: DeviceConfig) -> int:
    if args.sync_interval <= 0:
        raise UsageError("--sync-interval must be greater than 0")
    daemon = Daemon(config, args.store, args.socket, sync_interval_s=args.sync_interval,
                    state_dir=args.state_dir)
    signal.signal(signal.SIGTERM, daemon.stop)
    signal.signal(signal.SIGINT, daemon.stop)
    return daemon.run()


# ------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ritbox", description="Ritbox device: GPS -> chained trip records.")
    parser.add_argument("--config", help="config file (default $RITBOX_DEVICE_CONFIG or /etc/ritbox/ritbox.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks on internal errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="the daemon: source -> trips -> store")
    run.add_argument("--store", help="store path (default from config)")
    run.add_argument("--socket", help="control socket path (default from config)")
    run.add_argument("--state-dir", help="folder with the device key (default: the store's folder)")
    run.add_argument("--sync-interval", type=float, default=sync.DEFAULT_INTERVAL_S, metavar="SECONDS",
                     help=f"how often the upload job wakes up (default {sync.DEFAULT_INTERVAL_S:g}); "
                     "after a failure the backoff decides when it really tries")
    run.set_defaults(func=cmd_run)

    replay = sub.add_parser("replay", help="replay a recorded NMEA file through the pipeline")
    replay.add_argument("file", type=Path)
    replay.add_argument("--fast", action="store_true", help="as fast as possible (default: paced by the NMEA time)")
    replay.add_argument("--speed", type=float, default=1.0, help="pacing factor for real-time replay (default 1)")
    replay.add_argument("--store", type=Path, help="keep the trips in this store (default: a throw-away store)")
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    replay.add_argument("--odometer", type=float, help="odometer at the start, km (default from config)")
    replay.add_argument("--private", action="store_true", help="private mode from the start")
    replay.add_argument("--private-from", metavar="TIME", help="switch to private at this NMEA time (ISO 8601 UTC)")
    replay.add_argument("--private-until", metavar="TIME", help="switch back to business at this NMEA time")
    replay.set_defaults(func=cmd_replay)

    trips = sub.add_parser("trips", help="closed trips in the local store")
    trips.add_argument("--store", help="store path (default from config)")
    trips.add_argument("--json", action="store_true")
    trips.set_defaults(func=cmd_trips)

    status = sub.add_parser("status", help="open trip, pending uploads, counters")
    status.add_argument("--store", help="read this store directly")
    status.add_argument("--socket", help="control socket path (default from config)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    enroll_mod.add_cli(sub)

    sync_parser = sub.add_parser("sync", help="upload pending trips to the backend now (one pass)")
    sync_parser.add_argument("--store", help="store path (default from config)")
    sync_parser.add_argument("--state-dir", help="folder with the device key (default: the store's folder)")
    sync_parser.add_argument("--url", help="backend address (default: [backend] url, else the enrolled one)")
    sync_parser.add_argument("--batch", type=int, default=sync.DEFAULT_BATCH,
                             help=f"trips per request (default {sync.DEFAULT_BATCH})")
    sync_parser.add_argument("--json", action="store_true")
    sync_parser.set_defaults(func=cmd_sync)

    private = sub.add_parser("private", help="privacy switch of the running daemon")
    private.add_argument("value", choices=["on", "off", "status"])
    private.add_argument("--socket", help="control socket path (default from config)")
    private.set_defaults(func=cmd_private)
    # --config after the command too (`ritbox run --config FILE`, as the systemd unit and people
    # write it); SUPPRESS leaves the value given before the command when there is none after it.
    for command in sub.choices.values():
        command.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def protect_enroll_token(argv: Sequence[str]) -> list[str]:
    """A one-time token is URL-safe base64 and may start with '-' (one in 64): argparse would take
    `ritbox enroll URL -gTJ...` for an unknown option. Move such an argument behind a `--`."""
    args = list(argv)
    if "enroll" not in args or "--" in args:
        return args
    at = args.index("enroll") + 1
    with_value = {"--state-dir", "--store"}
    known = with_value | {"-h", "--help"}
    kept: list[str] = []
    moved: list[str] = []
    expect_value = False
    for arg in args[at:]:
        if expect_value:
            kept.append(arg)
            expect_value = False
        elif arg in with_value:
            kept.append(arg)
            expect_value = True
        elif arg.startswith("-") and len(arg) > 1 and arg.split("=", 1)[0] not in known:
            moved.append(arg)
        else:
            kept.append(arg)
    return args[:at] + kept + (["--", *moved] if moved else [])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(protect_enroll_token(sys.argv[1:] if argv is None else argv))
    _setup_logging(args.verbose, daemon=args.command == "run")
    try:
        config = load_config(args.config)
        return int(args.func(args, config))
    except RitboxError as exc:
        print(f"ritbox: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1  # `ritbox trips | head`: the reader went away, nothing to say
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"ritbox: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into one line
        if args.verbose:
            log.exception("internal error")
        print(f"ritbox: internal error: {type(exc).__name__}: {exc} (run with -v for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
