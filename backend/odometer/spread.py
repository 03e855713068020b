"""Spreading a calibration's correction over the trips since the previous calibration.

Pure integer arithmetic in metres (largest-remainder method): the shares always sum exactly to
the correction, each share is the proportional one rounded down or up by at most one metre, and
the metres left over by rounding down go to the trips with the largest remainders (ties: the
earlier trip). A negative correction is spread as its absolute value, then negated, so rounding
never depends on the sign.
"""
from __future__ import annotations

from collections.abc import Sequence


def km_to_m(km: float) -> int:
    """A km figure as whole metres (the device rounds distances to 3 decimals)."""
    return int(round(km * 1000))


def spread(correction_m: int, distances_m: Sequence[int]) -> list[int]:
    """Each trip's share of correction_m, in proportion to its distance.

    distances_m must be non-negative. With no distance at all there is nothing to be
    proportional to: ValueError (the caller books the correction on its own).
    """
    if any(d < 0 for d in distances_m):
        raise ValueError("distances must not be negative")
    total = sum(distances_m)
    if total == 0:
        if correction_m == 0:
            return [0] * len(distances_m)
        raise ValueError("cannot spread a correction over zero km")
    sign = -1 if correction_m < 0 else 1
    magnitude = abs(correction_m)
    shares = []
    remainders = []
    for index, distance in enumerate(distances_m):
        share, remainder = divmod(magnitude * distance, total)
        shares.append(share)
        remainders.append((-remainder, index))
    left = magnitude - sum(shares)  # 0 <= left < len(distances_m)
    for _, index in sorted(remainders)[:left]:
        shares[index] += 1
    return [sign * share for share in shares]
