"""Ritbox device: turns a GPS receiver's NMEA stream into chained, crash-safe trip records."""
