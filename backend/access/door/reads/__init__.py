"""Every read of trip data any feature makes, one module per feature, all built from the door's
decide/query/views. Callers import them from backend.access.door, never from here."""
from __future__ import annotations

from backend.access.door.reads.chain import (RECORD_COLUMNS, chain_heads, chain_links, chain_summaries,
                                             declared_breaks, devices_of_vehicles, sealed_bodies, stored_records)
from backend.access.door.reads.device_word import TRIPS_VERIFIED, Verification, verify_device_word
from backend.access.door.reads.drivers import own_trip_summaries, trip_summaries
from backend.access.door.reads.finance import (CHARACTERS, Cursor, MonthCheck, TripFilter, TripPage, month_check,
                                               trip_page)
from backend.access.door.reads.fleet import TripSpan, Unassigned, attribute_unassigned, trip_span, unassigned_trips
from backend.access.door.reads.home import (Behind, MonthCount, OpenTrips, behind_on_classifying, month_counts,
                                            open_to_classify)
from backend.access.door.reads.inspector import (chain_events_of_devices, inspector_records, inspector_scope,
                                               vehicles_of_trips)
from backend.access.door.reads.odometer import (CorrectionRow, OdometerTrip, OdometerWindow, correction_rows,
                                               corrections_by_trip, may_calibrate, odometer_window)
from backend.access.door.reads.revisions import RevisionRow, current_revisions, revised_trip_ids, revision_rows
from backend.access.door.reads.reports import OWN_EXPORT, own_tax_report_rows, tax_report_rows, trip_numbers
from backend.access.door.reads.trips import (chain_events_for_vehicle, tax_report_rows_with_gaps, track, trip,
                                             trips_for_driver, trips_for_vehicle, usable_grants)

__all__ = [
    # trips (reads/trips.py)
    "trips_for_driver", "trips_for_vehicle", "trip", "track", "tax_report_rows_with_gaps",
    "chain_events_for_vehicle", "usable_grants",
    # the driver's pages and the revision service (reads/drivers.py)
    "own_trip_summaries", "trip_summaries",
    # reports (reads/reports.py)
    "OWN_EXPORT", "own_tax_report_rows", "tax_report_rows", "trip_numbers",
    # finance's trip list and month check (reads/finance.py)
    "CHARACTERS", "Cursor", "MonthCheck", "TripFilter", "TripPage", "month_check", "trip_page",
    # fleet bookkeeping (reads/fleet.py)
    "TripSpan", "Unassigned", "attribute_unassigned", "trip_span", "unassigned_trips",
    # home counts (reads/home.py)
    "Behind", "MonthCount", "OpenTrips", "behind_on_classifying", "month_counts", "open_to_classify",
    # odometer calibration (reads/odometer.py)
    "OdometerTrip", "OdometerWindow", "may_calibrate", "odometer_window",
    "CorrectionRow", "correction_rows", "corrections_by_trip",
    # what drivers and finance typed about trips (reads/revisions.py)
    "RevisionRow", "current_revisions", "revised_trip_ids", "revision_rows",
    # device chains for checkpoints and verification (reads/chain.py)
    "RECORD_COLUMNS", "chain_heads", "chain_links", "chain_summaries", "declared_breaks", "devices_of_vehicles",
    "sealed_bodies", "stored_records",
    # the inspector package's record chain (reads/inspector.py)
    "inspector_scope", "inspector_records", "vehicles_of_trips", "chain_events_of_devices",
    # are the stored trips what the devices signed? (reads/device_word.py, `trips verify`)
    "TRIPS_VERIFIED", "Verification", "verify_device_word",
]
