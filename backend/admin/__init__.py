"""Administration of user accounts (the admin role)."""
