"""Error pages in the reader's language: a person never sees Werkzeug's English page. The API
keeps its JSON errors (backend/api/__init__.py chooses by path)."""
from __future__ import annotations

import logging

from flask import render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

ERROR_TEXTS = {
    400: (_l("The request was incomplete"), _l("The page could not handle what was sent. Go back and try again.")),
    403: (_l("No access"), _l("Your role does not give access to this page. The menu shows the pages you can use.")),
    404: (_l("Page not found"), _l("This page does not exist, or what it showed has been removed. Check the address or use the menu.")),
    405: (_l("Not possible here"), _l("This page cannot be used this way. Use the buttons on the page.")),
    413: (_l("Too large"), _l("What you sent is larger than allowed. Choose a smaller file.")),
    429: (_l("Too many attempts"), _l("Wait a moment and try again.")),
}
SERVER_ERROR = (_l("Something went wrong"), _l("Ritbox could not finish this. Nothing was changed; try again later."))
REFUSED = _l("This cannot be done")


def error_page(exc: HTTPException, refusal: str | None = None):
    """The page for an HTTP error; with `refusal` (a UserError's message, translated) the page of a
    refusal that no view answered itself."""
    status = exc.code or 500
    title, explanation = ERROR_TEXTS.get(status) or (SERVER_ERROR if status >= 500 else ERROR_TEXTS[400])
    if refusal is not None:
        title, explanation = REFUSED, refusal
    try:
        body = render_template("errors/error.html", status=status, title=title, explanation=explanation)
    except Exception:  # noqa: BLE001 - the page itself failed (a broken database): say it plainly
        log.exception("error page could not be rendered")
        body = f"<!doctype html><title>{status}</title><h1>{title}</h1><p>{explanation}</p>"
    response = exc.get_response()
    response.set_data(body)
    response.mimetype = "text/html"
    return response
