"""A home or work place entered as an area on /me/places: corner lines (decimal points or
commas) or a pasted GeoJSON Polygon, checked with shapely; every refusal is a Dutch message on
the form (400) and stores nothing. Real trips, uploaded by an enrolled device, between a home
area and a work area are proposed as commute; one ending just outside the work area is not."""
from __future__ import annotations

import json
import math
import re
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from shapely import wkt
from sqlalchemy import func, select

from backend.db import db
from backend.driver import places as place_service
from backend.models.places import Place
from backend.trips import commute
from tests.backend.access_support import make_people
from tests.backend.trip_factory import AMSTERDAM, UTRECHT, TripFactory, TripSpec, days_ago

# A work area of about 440 m x 400 m around the Amsterdam end of the factory's trips, written
# the way a driver types it (latitude first), and the same area as geojson.io exports it.
WORK_LAT, WORK_LON = AMSTERDAM
WORK_CORNERS = [(WORK_LAT - 0.002, WORK_LON - 0.003), (WORK_LAT - 0.002, WORK_LON + 0.003),
                (WORK_LAT + 0.002, WORK_LON + 0.003), (WORK_LAT + 0.002, WORK_LON - 0.003)]
WORK_LINES = "\n".join(f"{lat:.6f}, {lon:.6f}" for lat, lon in WORK_CORNERS)
HOME_LAT, HOME_LON = UTRECHT
HOME_CORNERS = [(HOME_LAT - 0.0004, HOME_LON - 0.0006), (HOME_LAT - 0.0004, HOME_LON + 0.0006),
                (HOME_LAT + 0.0005, HOME_LON)]  # a triangle around the house
# Dutch habits: decimal commas, a semicolon or spaces between latitude and longitude, and the
# first corner repeated at the end.
HOME_DUTCH = "\n".join([f"{HOME_CORNERS[0][0]:.6f}; {HOME_CORNERS[0][1]:.6f}".replace(".", ","),
                        f"  {HOME_CORNERS[1][0]:.6f}  {HOME_CORNERS[1][1]:.6f}".replace(".", ","),
                        "",
                        f"{HOME_CORNERS[2][0]:.6f}, {HOME_CORNERS[2][1]:.6f}".replace(".", ","),
                        f"{HOME_CORNERS[0][0]:.6f};{HOME_CORNERS[0][1]:.6f}".replace(".", ",")])


def geojson(rings, *, wrap: bool = True) -> str:
    polygon = {"type": "Polygon", "coordinates": rings}
    if not wrap:
        return json.dumps(polygon)
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": polygon}]})


WORK_GEOJSON = geojson([[[lon, lat] for lat, lon in WORK_CORNERS + WORK_CORNERS[:1]]])


@pytest.fixture
def driver(app, make_user, login):
    make_user("daan@example.nl", "driver", name="Daan de Vries")
    login("daan@example.nl")


def _places(app) -> list[Place]:
    with app.app_context():
        return list(db.session.scalars(select(Place).order_by(Place.id)))


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Place))


def _row(html: str, name: str) -> str:
    rows = [r for r in re.findall(r'<tr data-testid="place".*?</tr>', html, re.S) if f"<td>{name}</td>" in r]
    assert len(rows) == 1, html
    return re.sub(r"\s+", " ", rows[0])


def test_three_notations_give_the_same_stored_polygon():
    lines = place_service.parse_area(WORK_LINES)
    wrapped = place_service.parse_area(WORK_GEOJSON)
    bare = place_service.parse_area(geojson([[[lon, lat] for lat, lon in WORK_CORNERS]], wrap=False))
    dutch = place_service.parse_area("\n".join(f"{lat:.6f} {lon:.6f}".replace(".", ",") for lat, lon in WORK_CORNERS))
    assert lines.equals(wrapped) and lines.equals(bare) and lines.equals(dutch)
    assert len(lines.exterior.coords) == 5  # 4 corners, closed automatically
    assert lines.exterior.is_ccw  # stored in one orientation whatever the order typed
    assert 0.16 < place_service.local_plane(lines).area / 1e6 < 0.19  # ~445 m x ~405 m
    # The same corners typed clockwise give the same area.
    assert place_service.parse_area("\n".join(f"{a}, {b}" for a, b in reversed(WORK_CORNERS))).equals(lines)


def test_a_work_area_is_stored_as_a_polygon_and_listed_as_an_area(app, client, driver):
    answer = client.post("/me/places", data={"kind": "work", "name": "Kantoor", "lat": "", "lon": "",
                                             "radius_m": "200", "corners": WORK_LINES})
    assert answer.status_code == 302
    answer = client.post("/me/places", data={"kind": "home", "name": "Huis", "radius_m": "200",
                                             "corners": HOME_DUTCH})
    assert answer.status_code == 302
    answer = client.post("/me/places", data={"kind": "other", "name": "Klant", "corners": WORK_GEOJSON})
    assert answer.status_code == 302
    work, home, other = _places(app)
    assert (work.kind, work.radius_m, wkt.loads(work.geometry_wkt).geom_type) == ("work", None, "Polygon")
    assert wkt.loads(work.geometry_wkt).equals(wkt.loads(other.geometry_wkt))
    home_polygon = wkt.loads(home.geometry_wkt)
    assert home.radius_m is None and len(home_polygon.exterior.coords) == 4  # 3 corners + closing
    assert home_polygon.covers(wkt.loads(f"POINT ({HOME_LON} {HOME_LAT})"))

    html = client.get("/me/places").get_data(as_text=True)
    row = _row(html, "Kantoor")
    ha = float(re.search(r"gebied, 4 hoeken, ca\. ([\d,]+) ha", row).group(1).replace(",", "."))
    assert 16 < ha < 19
    centre = re.search(r'data-testid="centre">(-?[\d.]+), (-?[\d.]+)<', row)
    assert abs(float(centre.group(1)) - WORK_LAT) < 1e-5 and abs(float(centre.group(2)) - WORK_LON) < 1e-5
    # A small area is given in m² (about 100 m x 82 m / 2 = ~4,100 m²).
    m2 = int(re.search(r"gebied, 3 hoeken, ca\. ([\d.]+) m²", _row(html, "Huis")).group(1).replace(".", ""))
    assert 3_500 < m2 < 4_500


def test_a_point_place_is_still_listed_as_a_circle(app, client, driver):
    assert client.post("/me/places", data={"kind": "home", "name": "Huis", "lat": "52,090712",
                                           "lon": "5.121433", "radius_m": "250", "corners": "  \n"}).status_code == 302
    row = _row(client.get("/me/places").get_data(as_text=True), "Huis")
    assert "52.09071, 5.12143" in row and "cirkel, straal 250 m" in row


# Every refusal: the form field values, and a fragment of the Dutch message.
_SQUARE = [(52.0, 5.0), (52.0, 5.001), (52.001, 5.001), (52.001, 5.0)]
BAD_AREAS = {
    "point and area": ({"lat": "52.1", "lon": "5.1", "corners": WORK_LINES}, "niet allebei"),
    "nothing": ({"radius_m": "200"}, "Geef een middelpunt met straal, of de hoeken van een gebied"),
    "ambiguous decimal commas": ({"corners": "52,0907,5,1214\n52,1,5,2\n52,2,5,1"},
                                 "Regel 1: breedtegraad en lengtegraad zijn niet uit elkaar te houden"),
    "ambiguous integers": ({"corners": "52.0, 5.0\n52,5\n52.1, 5.1"}, "Regel 2: breedtegraad en lengtegraad"),
    "one number": ({"corners": "52.0, 5.0\n\n52.1\n52.1, 5.1"}, "Regel 3: geef één hoek als twee getallen"),
    "three numbers": ({"corners": "52.0; 5.0; 7\n52.1, 5.1\n52.1, 5.0"}, "Regel 1: geef één hoek"),
    "not a number": ({"corners": "52.0, 5.0\nnan, 5.1\n52.1, 5.1"}, "Regel 2: geef één hoek"),
    "exponent": ({"corners": "52.0, 5.0\n5.21e1, 5.1\n52.1, 5.1"}, "Regel 2: geef één hoek"),
    "latitude out of range": ({"corners": "52.0, 5.0\n91.0, 5.1\n52.1, 5.1"},
                              "Regel 2: de breedtegraad ligt tussen -90 en 90"),
    "longitude out of range": ({"corners": "52.0, 5.0\n52.1, 181\n52.1, 5.1"}, "Regel 2: de breedtegraad ligt"),
    "two corners": ({"corners": "52.0, 5.0\n52.1, 5.1\n52.0, 5.0"},
                    "minstens 3 verschillende hoeken nodig; je gaf er 2"),
    "repeated corner": ({"corners": "52.0, 5.0\n52.0, 5.0\n52.001, 5.001"}, "je gaf er 2"),
    "too many corners": ({"corners": "\n".join(f"{52 + 0.001 * math.cos(i / 32):.7f}, "
                                               f"{5 + 0.001 * math.sin(i / 32):.7f}" for i in range(201))},
                         "hoogstens 200 hoeken; je gaf er 201"),
    "on one line": ({"corners": "52.0, 5.0\n52.001, 5.001\n52.002, 5.002"}, "De hoeken liggen op één lijn"),
    "bow tie": ({"corners": "52.0, 5.0\n52.001, 5.001\n52.0, 5.001\n52.001, 5.0"},
                "geen geldig gebied: randen kruisen elkaar bij 52.00050, 5.00050"),
    "outline touches itself": ({"corners": "52.0, 5.0\n52.0, 5.002\n52.002, 5.001\n52.0, 5.001\n51.998, 5.001"},
                               "geen geldig gebied: de omtrek raakt zichzelf bij 52.00000, 5.00100"),
    "too large": ({"corners": "52.3, 4.8\n52.3, 4.9\n52.4, 4.9\n52.4, 4.8"},
                  "groter dan de 500 ha (5 km²) die een gebied mag zijn"),
    "too small": ({"corners": "52.0, 5.0\n52.0, 5.0001\n52.00005, 5.0001\n52.00005, 5.0"},
                  "maar ongeveer 38 m²; een gebied is minstens 100 m²"),
    "too long": ({"corners": "52.0, 5.0\n" * 2_100}, "te lang (hoogstens 20000 tekens)"),
    "broken geojson": ({"corners": WORK_GEOJSON[:-3]}, "De geplakte GeoJSON is niet te lezen"),
    "geojson NaN": ({"corners": WORK_GEOJSON.replace("4.89", "NaN", 1)}, "De geplakte GeoJSON is niet te lezen"),
    "geojson multipolygon": ({"corners": json.dumps({"type": "MultiPolygon", "coordinates": [
        [[[lon, lat] for lat, lon in _SQUARE]]]})}, "Plak één GeoJSON-Polygon"),
    "geojson hole": ({"corners": geojson([[[lon, lat] for lat, lon in WORK_CORNERS],
                                          [[WORK_LON, WORK_LAT], [WORK_LON + 0.0001, WORK_LAT],
                                           [WORK_LON, WORK_LAT + 0.0001]]])}, "Plak één GeoJSON-Polygon"),
    "geojson two features": ({"corners": json.dumps({"type": "FeatureCollection", "features": [
        json.loads(WORK_GEOJSON)["features"][0]] * 2})}, "Plak één GeoJSON-Polygon"),
    "geojson point": ({"corners": json.dumps({"type": "Point", "coordinates": [5.0, 52.0]})},
                      "Plak één GeoJSON-Polygon"),
    "geojson text coordinate": ({"corners": geojson([[["4.9", 52.37], [4.91, 52.37], [4.91, 52.38]]])},
                                "Plak één GeoJSON-Polygon"),
    "geojson latitude first": ({"corners": geojson([[[52.37, 4.89], [52.37, 94.9], [52.38, 4.9]]])},
                               "Hoek 2 van de GeoJSON: de breedtegraad ligt tussen -90 en 90"),
    "no name": ({"corners": WORK_LINES, "name": " "}, "Geef de plaats een naam"),
    "unknown kind": ({"corners": WORK_LINES, "kind": "holiday"}, "Onbekend soort plaats"),
}


@pytest.mark.parametrize("case", BAD_AREAS, ids=list(BAD_AREAS))
def test_every_bad_area_is_named_on_the_form_and_nothing_is_stored(app, client, driver, case):
    fields, message = BAD_AREAS[case]
    answer = client.post("/me/places", data={"kind": "work", "name": "Kantoor", **fields})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    error = re.search(r'data-testid="error">(.*?)</p>', html, re.S).group(1)
    assert message in error.replace("&#39;", "'"), error
    assert _count(app) == 0
    if fields.get("corners"):  # what was typed stays in the form, to be corrected
        assert f">{escape(fields['corners'])}</textarea>" in html


def _zones(app) -> list[commute.Zone]:
    from backend.models.accounts import User
    with app.app_context():
        driver_id = db.session.scalar(select(User.id).where(User.email == "daan@example.nl"))
        return place_service.zones_for(driver_id)


def test_trips_between_a_home_area_and_a_work_area_are_proposed_as_commute(app, client, make_user, login,
                                                                            tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_people(make_user)
    # Just outside the work area's north edge (about 11 m beyond it), yet within 250 m of its
    # centre: a circle would have taken it, the polygon does not.
    outside = (WORK_LAT + 0.0021, WORK_LON)
    inside = (WORK_LAT + 0.0019, WORK_LON + 0.0029)  # near a corner, inside
    assert commute.distance_m(AMSTERDAM, outside) < 250
    factory = TripFactory(app, client, driver_email="daan@example.nl")
    to_work, back_home, to_the_edge, near_corner, to_elsewhere = factory.upload(
        TripSpec(days_ago(2), start=UTRECHT, end=AMSTERDAM),
        TripSpec(days_ago(2, hour=16), start=AMSTERDAM, end=UTRECHT),
        TripSpec(days_ago(1), start=UTRECHT, end=outside),
        TripSpec(days_ago(1, hour=12), start=(HOME_LAT + 0.0002, HOME_LON), end=inside),
        TripSpec(days_ago(1, hour=16), start=UTRECHT, end=(51.9225, 4.4792)))
    login("daan@example.nl")
    for kind, name, corners in (("work", "Kantoor", WORK_GEOJSON), ("home", "Huis", HOME_DUTCH)):
        assert client.post("/me/places", data={"kind": kind, "name": name, "corners": corners}).status_code == 302

    def proposed(trip_id: int) -> bool:
        html = client.get(f"/me/trips/{trip_id}").get_data(as_text=True)
        return "Woon-werk (voorstel)" in html

    assert proposed(to_work) and proposed(back_home) and proposed(near_corner)
    assert not proposed(to_the_edge) and not proposed(to_elsewhere)
    # The area's name names the trip's end, as a point place's does.
    html = client.get(f"/me/trips/{to_work}").get_data(as_text=True)
    assert 'data-testid="track-svg"' in html  # the server-side map is drawn as before
    assert re.search(r'data-testid="end-address">Kantoor\b', html)
    assert re.search(r'data-testid="start-address">Huis\b', html)
    # The month list proposes the same trips.
    listed = {}
    for month in {days_ago(d).astimezone(ZoneInfo("Europe/Amsterdam")).strftime("%Y-%m") for d in (1, 2)}:
        html = client.get(f"/me/trips?month={month}").get_data(as_text=True)
        for row, trip_id in re.findall(r'(<tr[^>]*data-trip-id="(\d+)".*?</tr>)', html, re.S):
            listed[int(trip_id)] = "Woon-werk (voorstel)" in row
    assert listed == {to_work: True, back_home: True, to_the_edge: False, near_corner: True, to_elsewhere: False}
    zones = _zones(app)
    assert [z.geometry.geom_type for z in zones] == ["Polygon", "Polygon"]
    assert commute.propose(UTRECHT, outside, zones) is None
