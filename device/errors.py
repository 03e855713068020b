"""The device's exception hierarchy: every error the device raises on purpose is a RitboxError."""


class RitboxError(Exception):
    """Base of all deliberate device errors; its message is meant for a person."""
