"""`flask --app backend agreements ...`: validate, upload, consent, list."""
from __future__ import annotations



import click
from flask import Flask
from flask.cli import AppGroup

from backend.governance import agreements
from backend.accounts import find_user
from backend.db import db
from backend.models.access import AgreementVersion

agreements_cli = AppGroup("agreements", help="Works council agreements (regelingen).")


def _user(email: str):
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    return user


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot read: {exc}") from None


@agreements_cli.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def validate_command(file: str) -> None:
    """Check a document against the schema without storing it."""
    try:
        agreement = agreements.parse(_read(file))
    except agreements.AgreementError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    click.echo(f"{file}: valid agreement {agreement.version} with purposes "
               f"{', '.join(agreement.purposes) or '(none)'}")


@agreements_cli.command("upload")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--by", "email", required=True, help="E-mail of the privacy officer uploading it.")
def upload_command(file: str, email: str) -> None:
    """Store a new agreement version; it is in force only after consent is recorded."""
    try:
        version = agreements.upload(_read(file), _user(email))
    except agreements.AgreementError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    click.echo(f"stored agreement version {version.id} ({version.label}, sha256 {version.sha256[:16]}); "
               "awaiting the works council's consent")


@agreements_cli.command("consent")
@click.argument("version_id", type=int)
@click.option("--by", "email", required=True, help="E-mail of the works council delegate.")
@click.option("--date", "consent_date", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Date of the works council's decision (YYYY-MM-DD).")
@click.option("--reference", required=True, help="The decision's reference, e.g. OR-2026-014.")
@click.option("--text-sha256", "text_sha256", required=True,
              help="SHA-256 of the regeling text the council consented to, as `agreements regeling` shows it.")
def consent_command(version_id: int, email: str, consent_date, reference: str, text_sha256: str) -> None:
    """Record the works council's consent to the regeling text with this hash; in force from now on."""
    version = db.session.get(AgreementVersion, version_id)
    if version is None:
        raise click.ClickException(f"no agreement version {version_id}")
    try:
        agreements.record_consent(version, _user(email), consent_date.date(), reference, text_sha256=text_sha256)
    except agreements.AgreementError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"consent recorded; agreement version {version.id} ({version.label}) is in force")


@agreements_cli.command("regeling")
@click.argument("version_id", type=int)
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
def regeling_command(version_id: int, lang: str) -> None:
    """Print the regeling of a version as rendered with this installation's settings, and its hash."""
    from backend import agreement_documents
    version = db.session.get(AgreementVersion, version_id)
    if version is None:
        raise click.ClickException(f"no agreement version {version_id}")
    document = agreement_documents.render("regeling", version, lang)
    click.echo(document.text(), nl=False)
    click.echo(f"sha256 {document.sha256()}")


@agreements_cli.command("list")
def list_command() -> None:
    """List the versions with their state."""
    current = agreements.in_force()
    for version in agreements.all_versions():
        state = agreements.status_of(version, current)
        consent = (f" consent {version.consent_date.isoformat()} {version.consent_reference}"
                   if version.consent_date else "")
        click.echo(f"{version.id}\t{version.label}\t{state}{consent}")


seals_cli = AppGroup("seals", help="Sealed trip positions.")


@seals_cli.command("seal-classified")
def seal_classified_command() -> None:
    """Seal business-mode trips classified private before sealing existed (counts only)."""
    from backend.access import door
    sealed = door.seal_pending()
    click.echo(f"sealed {len(sealed)} trips classified private")


def init_app(app: Flask) -> None:
    app.cli.add_command(agreements_cli)
    app.cli.add_command(seals_cli)
    from backend.access.trips_cli import inspector_package_command, trips_cli
    app.cli.add_command(trips_cli)
    app.cli.add_command(inspector_package_command)



