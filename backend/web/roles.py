"""What each role is called and what it may do, in the user's language."""
from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "driver": _l("Driver"),
    "finance": _l("Finance"),
    "manager": _l("Manager"),
    "or_delegate": _l("Works council delegate"),
    "privacy_officer": _l("Privacy officer"),
    "admin": _l("Administrator"),
}

ROLE_DESCRIPTIONS = {
    "driver": _l("Review and classify your own trips, add notes, follow your 500 km counter "
                 "and see who accessed your data."),
    "finance": _l("Export tax reports per driver and car, record odometer calibrations and close "
                  "periods. Private destinations and tracks stay hidden."),
    "manager": _l("Request access for another purpose than the tax registration, citing a rule of the "
                  "works council agreement and your grounds. Nothing is visible without an approved grant."),
    "or_delegate": _l("Record the works council's consent to agreement versions, approve or deny access "
                      "requests and read the audit log."),
    "privacy_officer": _l("Upload agreement versions, approve or deny access requests and read the audit log."),
    "admin": _l("Register users, cars and devices. Trip contents are not visible to this role."),
}
