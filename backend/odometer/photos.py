"""Dashboard photos: checked by content (not by name or the browser's claim), stored in the
instance folder under their SHA-256, referred to from the database by a relative path."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from flask import current_app
from backend.errors import N_, UserError

PHOTO_DIR = "odometer_photos"




class PhotoError(UserError, ValueError):
    """Not an acceptable photo; msgid is English with %(name)s placeholders (translated where shown)."""



@dataclass(frozen=True)
class StoredPhoto:
    path: str  # relative to the instance folder
    sha256: str
    content_type: str


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's magic bytes; None when not JPEG, PNG or WebP."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg", "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png", "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def validate(data: bytes, max_bytes: int) -> tuple[str, str]:
    if not data:
        raise PhotoError(N_("The photo is empty."))
    if len(data) > max_bytes:
        raise PhotoError(N_("The photo is larger than %(limit)s MB."), limit=round(max_bytes / 1_000_000, 1))
    kind = sniff(data)
    if kind is None:
        raise PhotoError(N_("The photo must be a JPEG, PNG or WebP image."))
    return kind


def store(data: bytes) -> StoredPhoto:
    """Validate and write the photo (idempotent: the same bytes land in the same file)."""
    content_type, extension = validate(data, current_app.config["ODOMETER_PHOTO_MAX_BYTES"])
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{PHOTO_DIR}/{digest}.{extension}"
    absolute = os.path.join(current_app.instance_path, relative)
    os.makedirs(os.path.dirname(absolute), exist_ok=True)
    if not os.path.exists(absolute):
        temporary = absolute + ".tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, absolute)
    return StoredPhoto(relative, digest, content_type)


def absolute_path(relative: str) -> str:
    """The file of a stored photo; refuses anything that would leave the photo folder."""
    base = os.path.realpath(os.path.join(current_app.instance_path, PHOTO_DIR))
    path = os.path.realpath(os.path.join(current_app.instance_path, relative))
    if os.path.dirname(path) != base:
        raise PhotoError(N_("Unknown photo."))
    return path
