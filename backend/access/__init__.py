"""Access to trip data: the door (backend.access.door) through which every read of trip data
passes, the purposes and data categories it decides by (purposes.py), retention (the only code
that deletes trip data), the inspector package and the `flask trips` commands. The works
council's workflow that opens other purposes (agreements, requests, grants) is backend.governance.
See docs/access.md."""
