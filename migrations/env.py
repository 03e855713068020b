import logging
from logging.config import fileConfig

from flask import current_app

from alembic import context

import backend.models  # noqa: F401  (registers every table on the metadata)

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
# Keep the application's loggers alive when migrations run inside it (tests, CLI).
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger('alembic.env')


_migrate_engine = None


def get_engine():
    """The owner's connection (RITBOX_MIGRATE_DATABASE_URL) when set, else the app's."""
    global _migrate_engine
    url = current_app.config.get('MIGRATE_DATABASE_URL')
    if not url:
        return current_app.extensions['migrate'].db.engine
    if _migrate_engine is None or _migrate_engine.url.render_as_string(hide_password=False) != url:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool
        _migrate_engine = create_engine(url, poolclass=NullPool)
    return _migrate_engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option('sqlalchemy.url', get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = current_app.extensions['migrate'].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )

        with context.begin_transaction():
            context.run_migrations()
            _grant_app_role(connection)


def _grant_app_role(connection):
    """PostgreSQL with two roles: after every upgrade, the app's role gets exactly its
    privileges on the tables as they now are (backend/db_roles.py)."""
    from backend.db_roles import app_role_to_grant, grant_app_role
    app_role = app_role_to_grant(current_app.config['SQLALCHEMY_DATABASE_URI'],
                                 current_app.config.get('MIGRATE_DATABASE_URL'))
    if app_role is not None:
        grant_app_role(connection, app_role)
        logger.info('Granted the app role %s its privileges.', app_role)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
