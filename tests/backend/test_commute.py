"""Commute proposals from home and work places (points with a radius, polygons)."""
from __future__ import annotations

from shapely.geometry import Polygon

from backend.trips import commute

HOME = (52.0907, 5.1214)  # Utrecht
WORK = (52.3702, 4.8952)  # Amsterdam
ELSEWHERE = (51.9225, 4.4792)  # Rotterdam


def zones():
    return [commute.circle("home", *HOME, radius_m=200), commute.circle("work", *WORK, radius_m=300)]


def test_distance_is_in_metres():
    # One thousandth of a degree of latitude is about 111 m anywhere.
    assert 110 < commute.distance_m((52.0, 5.0), (52.001, 5.0)) < 112
    assert 34_000 < commute.distance_m(HOME, WORK) < 35_500  # Utrecht-Amsterdam, straight line


def test_home_to_work_and_back_are_commute():
    assert commute.propose(HOME, WORK, zones()) == "commute"
    assert commute.propose(WORK, HOME, zones()) == "commute"


def test_the_radius_decides():
    # About 150 m north of home: inside a 200 m radius, outside a 100 m one.
    near_home = (HOME[0] + 0.00135, HOME[1])
    assert commute.propose(near_home, WORK, zones()) == "commute"
    tight = [commute.circle("home", *HOME, radius_m=100), commute.circle("work", *WORK, radius_m=300)]
    assert commute.propose(near_home, WORK, tight) is None


def test_other_trips_are_not_proposed():
    assert commute.propose(HOME, ELSEWHERE, zones()) is None
    assert commute.propose(ELSEWHERE, WORK, zones()) is None
    assert commute.propose(HOME, HOME, zones()) is None
    assert commute.propose(None, WORK, zones()) is None  # e.g. a private-mode trip
    assert commute.propose(HOME, WORK, []) is None


def test_a_polygon_work_place_and_a_second_home():
    campus = Polygon([(4.89, 52.36), (4.90, 52.36), (4.90, 52.38), (4.89, 52.38)])
    places = [commute.circle("home", *HOME, radius_m=200),
              commute.zone_from_wkt("home", "POINT (4.4792 51.9225)", 250),  # a partner's home
              commute.zone_from_wkt("work", campus.wkt, None)]
    assert commute.propose(WORK, ELSEWHERE, places) == "commute"
    assert commute.propose(HOME, (52.385, 4.895), places) is None  # just north of the campus
    assert commute.propose(HOME, (52.375, 4.895), places) == "commute"


def test_an_area_entered_as_corner_lines_decides_at_its_edge():
    # An L-shaped work site as a driver types it on /me/places (decimal commas, latitude first).
    from backend.driver.places import parse_area
    site = parse_area("52,3700; 4,8900\n52,3700; 4,9000\n52,3720; 4,9000\n"
                      "52,3720; 4,8920\n52,3760; 4,8920\n52,3760; 4,8900")
    places = [commute.circle("home", *HOME, radius_m=200), commute.zone_from_wkt("work", site.wkt, None)]
    assert commute.propose(HOME, (52.3750, 4.8910), places) == "commute"  # in the L's upright
    assert commute.propose(HOME, (52.3720, 4.8950), places) == "commute"  # on the edge: covered
    assert commute.propose((52.3710, 4.8990), HOME, places) == "commute"  # and back
    # In the notch of the L: inside its bounding box and its hull, outside the area.
    assert commute.propose(HOME, (52.3740, 4.8960), places) is None
    # About 2 m north of the edge.
    assert commute.propose(HOME, (52.37202, 4.8950), places) is None
