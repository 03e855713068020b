"""What a person is told when Ritbox refuses a request: one base for every such error.

A UserError carries an English msgid with %(name)s placeholders and its parameters. The CLI and
the logs print str(error) (English, filled in); a page shows error.translated() in the user's
language. N_ marks a msgid for extraction (pybabel's default keywords include it) without
translating it where it is written: the message is translated where it is shown.
"""
from __future__ import annotations


def N_(msgid: str) -> str:
    return msgid


class UserError(Exception):
    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params

    def translated(self) -> str:
        """The message in the current request's language."""
        from flask_babel import gettext

        return gettext(self.msgid, **self.params)
