"""The navigation: which pages each role sees. An entry shows only once its page exists,
so features appear in the menu as they land."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l

from backend.models import Role, User


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # a lazy string, rendered in the request's language
    roles: frozenset[Role]  # empty: every logged-in user


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("web.home", _l("Home"), frozenset()),
    NavItem("driver.trips", _l("My trips"), frozenset({Role.DRIVER})),
    NavItem("driver.counter", _l("500 km counter"), frozenset({Role.DRIVER})),
    NavItem("driver.van_days", _l("Van days"), frozenset({Role.DRIVER})),
    NavItem("driver.access_log", _l("Who saw my data"), frozenset({Role.DRIVER})),
    NavItem("finance.reports", _l("Tax reports"), frozenset({Role.FINANCE})),
    NavItem("finance_trips.index", _l("Trips"), frozenset({Role.FINANCE})),
    NavItem("finance.verdicts", _l("500 km verdicts"), frozenset({Role.FINANCE})),
    NavItem("finance.regimes_page", _l("Vans and verklaringen"), frozenset({Role.FINANCE})),
    NavItem("finance.calibrations", _l("Odometer calibrations"), frozenset({Role.FINANCE, Role.DRIVER})),
    NavItem("periods.index", _l("Closed periods"), frozenset({Role.FINANCE})),
    NavItem("access.requests", _l("Access requests"),
            frozenset({Role.MANAGER, Role.OR_DELEGATE, Role.PRIVACY_OFFICER})),
    NavItem("agreements.index", _l("Agreements"), frozenset({Role.OR_DELEGATE, Role.PRIVACY_OFFICER})),
    NavItem("audit.log", _l("Audit log"), frozenset({Role.OR_DELEGATE, Role.PRIVACY_OFFICER})),
    NavItem("roles.pending", _l("Roles to confirm"), frozenset({Role.OR_DELEGATE, Role.PRIVACY_OFFICER})),
    NavItem("fleet.vehicles", _l("Fleet"), frozenset({Role.ADMIN})),
    NavItem("admin.users", _l("Users"), frozenset({Role.ADMIN})),
    NavItem("web.account", _l("My account"), frozenset()),
)


def navigation_for(user: User) -> list[NavItem]:
    existing = current_app.view_functions
    return [item for item in NAVIGATION
            if item.endpoint in existing and (not item.roles or user.has_role(*item.roles))]
