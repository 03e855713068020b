"""All models, imported here so that Alembic sees the whole schema."""
from backend.models.accounts import LoginFailure, Role, User, UserRole

__all__ = ["LoginFailure", "Role", "User", "UserRole"]
