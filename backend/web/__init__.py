"""The shell of the web app: home page, own account, language choice."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend.admin.views import bp as admin_bp
    from backend.admin.views import roles_bp
    from backend.web.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(roles_bp)

    @app.context_processor
    def _navigation():
        from flask_login import current_user

        from backend.web.navigation import navigation_for
        if current_user.is_authenticated:
            return {"navigation": navigation_for(current_user)}
        return {"navigation": []}
