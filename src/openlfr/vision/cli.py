"""Vision commands: ``openlfr models`` (more are added by the vision engine)."""

from __future__ import annotations

import json

import typer

from openlfr.errors import ModelFileError


def models(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """List model files: role, location, sha256 check and licence."""
    from openlfr.vision.models import MODEL_FILES, locate, verified

    rows = []
    for key, m in MODEL_FILES.items():
        row: dict[str, object] = {"key": key, "role": m.role, "sha256": m.sha256,
                                  "licence": m.licence}
        try:
            row["path"] = str(locate(key))
            verified(key)
            row["status"] = "ok"
        except ModelFileError as exc:
            row["status"] = f"error: {exc}"
        rows.append(row)
    if as_json:
        typer.echo(json.dumps({"models": rows}))
        return
    for r in rows:
        typer.echo(f"{r['key']:<14} {r['status']:<4} {r['role']}")
        typer.echo(f"{'':14} {r.get('path', '?')}")
        typer.echo(f"{'':14} sha256 {r['sha256']}")
        typer.echo(f"{'':14} licence: {r['licence']}")


def register(app: typer.Typer) -> None:
    app.command("models")(models)
