"""The one place where trip flags and chain/device events become words for people: pages show
them in the reader's language, reports in Dutch (`in_dutch`). No code ever reaches a person: a
flag or event kind this module does not know gets a generic line, never its code.

The codes are the device's (device/trips.py, device/store.py, device/pipeline.py; the backend
never imports device code, so they are repeated here) and the backend's (IngestFlag, ChainEventKind).
"""
from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime

from flask_babel import force_locale, gettext as _, lazy_gettext as _l

from backend.local_time import LOCAL
from backend.numbers import km_nl


FLAG_LABELS = {
    # device/trips.py: why a trip ended, what happened during it
    "gap_bridged": _l("short loss of GPS reception bridged in a straight line"),
    "closed_by_gap": _l("trip ended by a long loss of GPS reception"),
    "split_private_switch": _l("trip split by the private switch"),
    "end_of_input": _l("trip ended when the box stopped receiving (switched off or unplugged)"),
    "position_jump": _l("trip ended after an impossible jump in position"),
    "time_jump": _l("trip ended after a jump in time"),
    "time_reset": _l("the GPS receiver's clock was set anew"),
    "implausible_motion": _l("Motion no car can make (speed, acceleration or climb): check this trip"),
    # device/car.py and device/pipeline.py: the car over OBD
    "odometer_gps_disagree": _l("The car's odometer and the GPS km of this trip differ more than usual"),
    "engine_off": _l("Ended when the engine was switched off"),
    "vin_changed": _l("The box was moved to another car (another VIN): check this trip"),
    # device/store.py and device/pipeline.py
    "power_loss": _l("the box lost power during the trip"),
    "positions_dropped_no_key": _l("private positions not kept (no sealing key)"),
    "track_dropped_store_full": _l("route not kept (the box's storage was full)"),
    "resumed_after_restart": _l("trip continued after the box restarted"),
    # backend IngestFlag
    "no_assignment": _l("no driver assigned to the car on this day"),
    "chain_gap": _l("earlier trips were missing when this one arrived"),
    "chain_break": _l("this record does not link to the one before it"),
    "hash_mismatch": _l("the record's check value does not match its content"),
}
UNKNOWN_FLAG = _l("other remark of the box")


def flag_label(code: str) -> str:
    return str(FLAG_LABELS.get(code, UNKNOWN_FLAG))


def flag_labels(codes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(flag_label(code) for code in codes))


def _moment(value: datetime | None) -> str:
    return value.astimezone(LOCAL).strftime("%d-%m-%Y %H:%M") if value else ""


def _time(value: datetime | None) -> str:
    return value.astimezone(LOCAL).strftime("%H:%M") if value else ""


def _number(value: float) -> str:
    return km_nl(value)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return _("%(s)s s", s=round(seconds))
    if minutes < 120:
        return _("%(m)s min", m=minutes)
    return _("%(h)s h %(m)s min", h=minutes // 60, m=minutes % 60)


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def device_event_line(kind: str | None, body: dict | None) -> str:
    """One device event as a sentence (device/store.py's kinds and bodies)."""
    body = body or {}
    if kind == "gap":
        started, ended = _parse(body.get("started_at")), _parse(body.get("ended_at"))
        duration = _duration((ended - started).total_seconds()) if started and ended else "?"
        line = _("No GPS reception (receiver lost) from %(start)s to %(end)s (%(duration)s), %(km)s km "
                 "in a straight line", start=_time(started), end=_time(ended), duration=duration,
                 km=_number(float(body.get("distance_km", 0))))
        if body.get("bridged"):
            line += _("; bridged: the km are in the trip")
        return line
    if kind == "power_loss":
        return _("Power to the box was lost; back: the trip begun at %(start)s was ended at the last position "
                 "kept", start=_moment(_parse(body.get("started_at"))))
    if kind == "closed_standing_at_start":
        return _("The box started again; the trip begun at %(start)s, standing still, ended normally",
                 start=_moment(_parse(body.get("started_at"))))
    if kind == "resumed":
        return _("The box restarted after %(duration)s; the open trip went on",
                 duration=_duration(float(body.get("pause_s", 0))))
    if kind == "open_trip_unreadable":
        return _("The box restarted; the open trip could not be read and was ended")
    if kind == "ignition_off":
        if body.get("trip_open"):
            return _("Ignition off (the box's ignition wire)")
        return _("Ignition off (the box's ignition wire), no trip open")
    if kind == "ignition_on":
        return _("Ignition on (the box's ignition wire)")
    if kind == "obd_connected":
        return _("Connection with the car (OBD) made")
    if kind == "obd_lost":
        if body.get("trip_open"):
            return _("Connection with the car (OBD) lost during a trip: that trip keeps the GPS km")
        return _("Connection with the car (OBD) lost")
    if kind == "obd_no_odometer":
        return _("The car does not report its odometer (OBD): GPS km and dashboard readings are used")
    if kind == "vin_changed":
        return _("The box was moved to another car (another VIN): check the trips from here on")
    if kind == "mode_switched":
        if body.get("mode") == "private":
            return _("Private switch on (private mode: no route kept)")
        return _("Private switch off (business mode)")
    return _("Event of the box of an unknown kind")


def chain_event_line(event) -> str:
    """A chain event (backend.access.door.ChainEventView) as a sentence."""
    if event.kind == "device_event":
        return device_event_line(event.event_kind, event.event_body)
    if event.kind == "chain_gap":
        if event.filled_at is not None:
            return _("Records %(first)s to %(last)s of the box were missing on %(detected)s; received later on "
                     "%(arrived)s", first=event.seq_from, last=event.seq_to,
                     detected=_moment(event.detected_at), arrived=_moment(event.filled_at))
        return _("Records %(first)s to %(last)s of the box not received (missing since %(detected)s)",
                 first=event.seq_from, last=event.seq_to, detected=_moment(event.detected_at))
    if event.kind == "chain_break":
        return _("Record %(seq)s of the box does not fit the chain of records (found on %(detected)s)",
                 seq=event.seq_from, detected=_moment(event.detected_at))
    return _("Event of the box of an unknown kind")


@contextmanager
def in_dutch():
    """Reports are Dutch tax documents whatever the reader's language."""
    with force_locale("nl"):
        yield
