"""The private-positions policy devices receive comes from the agreement in force."""
from __future__ import annotations

from backend.fleet.service import private_positions_policy
from tests.backend.access_support import agreement_in_force, example_text, make_people


def test_without_agreement_the_setting_decides(app) -> None:
    with app.app_context():
        assert private_positions_policy() == "sealed"
        app.config["PRIVATE_POSITIONS"] = "none"
        assert private_positions_policy() == "none"


def test_the_agreement_in_force_decides(app, make_user) -> None:
    people = make_people(make_user)
    # Stricter: no private positions at all, so no purpose may grant private trip details.
    strict = (example_text().replace("private_positions: sealed", "private_positions: none")
              .replace("data_categories: [trip_summaries, business_tracks, private_trip_details]",
                       "data_categories: [trip_summaries, business_tracks]"))
    assert strict != example_text()
    with app.app_context():
        app.config["PRIVATE_POSITIONS"] = "sealed"
        agreement_in_force(people, strict)
        assert private_positions_policy() == "none"
