"""Purposes and data categories: the vocabulary of the access layer."""
from __future__ import annotations

# The registry's own purpose: the tax registration. Every other purpose is a clause id of the
# agreement in force (e.g. "misuse_investigation") and needs a grant.
TAX = "tax"

TRIP_SUMMARIES = "trip_summaries"  # date, times, odometer, km, mode, business start/end positions
BUSINESS_TRACKS = "business_tracks"  # the track points of business trips
PRIVATE_TRIP_DETAILS = "private_trip_details"  # the sealed start/end positions of private trips
CATEGORIES = (TRIP_SUMMARIES, BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS)

SUBJECT_EMPLOYEE = "employee"
SUBJECT_VEHICLE = "vehicle"


def categories_text(categories) -> str:
    """The stored form: sorted, comma-separated."""
    return ",".join(sorted(set(categories)))
