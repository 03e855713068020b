"""All models. Every module in this package is imported here, so that Alembic and the app
see the whole schema without a list to keep in step; a new area just adds its module."""
import importlib
import pkgutil

from backend.models.accounts import LoginCounter, Role, User, UserRole

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["LoginCounter", "Role", "User", "UserRole"]
