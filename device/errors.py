"""The device's exception hierarchy: every error the device raises on purpose is a RitboxError."""


class RitboxError(Exception):
    """Base of all deliberate device errors; its message is meant for a person."""


class NmeaError(RitboxError):
    """A receiver line the NMEA stage cannot use.

    These are input errors, not bugs: the NMEA stage never lets them escape. `device.nmea` catches
    them in one place (`SkipCounter.skip`), counts them under `reason` and logs at debug level
    without any position. `reason` is a stable key that shows up in `ritbox status` and `--json`.
    """

    reason = "parse_error"

    def __init__(self, message: str, sentence_type: str = "") -> None:
        super().__init__(message)
        self.sentence_type = sentence_type


class NotNmeaError(NmeaError):
    """Bytes that are not an NMEA sentence at all (binary, garbage text, invalid address)."""

    reason = "not_nmea"


class NoChecksumError(NmeaError):
    """A sentence we would use arrived without `*hh`; we never trust such a line."""

    reason = "no_checksum"


class BadChecksumError(NmeaError):
    """The `*hh` checksum does not match the sentence (a flipped or lost byte)."""

    reason = "bad_checksum"


class UnsupportedTypeError(NmeaError):
    """A well-formed sentence whose type the device does not use (GSV, GSA, proprietary, ...)."""

    reason = "unsupported_type"


class SentenceParseError(NmeaError):
    """A used sentence type with a good checksum but fields that do not make sense."""

    reason = "parse_error"


class NoFixError(NmeaError):
    """The receiver says it has no valid position (RMC/GLL status V or mode N, GGA quality 0)."""

    reason = "no_fix"


class RejectedModeError(NmeaError):
    """A position that is not a real measurement: RMC/GLL mode M or S, GGA quality 7 or 8."""

    reason = "rejected_mode"


class BadDateError(NmeaError):
    """A date that cannot be a GPS date, even after the week-rollover correction."""

    reason = "bad_date"


class DuplicateSentenceError(NmeaError):
    """A second sentence of the same type inside one epoch (e.g. $GLGGA repeating $GPGGA)."""

    reason = "duplicate"
