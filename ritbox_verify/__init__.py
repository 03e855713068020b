"""ritbox-verify: check a Ritbox inspector package offline (docs/inspector-package.md).

Needs only the package and `cryptography`: no database, no server, nothing of the backend.
`python -m ritbox_verify PACKAGE` or `ritbox-verify PACKAGE`; exit status 0 when it holds.
"""
