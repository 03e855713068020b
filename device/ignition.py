"""The ignition on a GPIO pin: ignition off ends a standing car's trip at once.

Most cars cut the Pi's power with the ignition. With a UPS or supercapacitor HAT that holds the
Pi up for some seconds and the ignition wired to a GPIO pin (through a level shifter or an
opto-coupler: a car's 12 V would destroy the pin), the daemon sees the key turned before the
power goes: a car that stands still ends its trip there and then (device.trips.TripDetector.
ignition_off, flag "engine_off"), the store writes it, and an upload is started at once. Without
the pin, the trip is closed as a normal end at the next start instead (docs/device.md, section 11).

The pin is read once per chunk by the pipeline, like the car's engine over OBD; gpiozero (extra
`gpio`) reads it. A pin library that does not load is said once; GPS recording goes on.
"""
from __future__ import annotations

from typing import Any, Callable

from device.privacy import GpioUnavailable


class IgnitionSense:
    """The ignition's state from a GPIO input (active high unless `active_high` is False)."""

    def __init__(self, pin: int | str, *, active_high: bool = True, pin_factory: Any = None,
                 on_off: Callable[[], None] | None = None) -> None:
        try:
            import gpiozero
        except ImportError as exc:
            raise GpioUnavailable("gpiozero is not installed (pip install 'ritbox[gpio]')") from exc
        try:
            # No pull resistor: the wiring (opto-coupler or divider) drives the pin both ways.
            self._input = gpiozero.DigitalInputDevice(pin, pull_up=None, active_state=active_high,
                                                      bounce_time=0.05, pin_factory=pin_factory)
        except gpiozero.BadPinFactory as exc:
            raise GpioUnavailable("no GPIO pin library works here (on Raspberry Pi OS: pip install "
                                  "'ritbox[gpio]', which brings lgpio)") from exc
        except gpiozero.GPIOZeroError as exc:
            raise GpioUnavailable(f"cannot use GPIO pin {pin} for the ignition: {exc}") from exc
        if on_off is not None:
            self._input.when_deactivated = lambda *_: on_off()

    def is_on(self) -> bool:
        return bool(self._input.value)

    def close(self) -> None:
        self._input.close()
