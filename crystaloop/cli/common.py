"""Helpers shared by the sub-commands."""

from __future__ import annotations

import json
from typing import Any

import click


def load_settings_or_fail(**overrides: Any) -> Any:
    """Return the settings, or exit with a one-line error when they are invalid."""
    from crystaloop.settings import SettingsError, load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as err:
        raise click.ClickException(str(err)) from err


def open_corpus(settings: Any) -> Any:
    """Return the corpus store, or exit with a one-line error when it cannot be opened."""
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store

    try:
        return CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, default=str))


def resolve_campaign(settings: Any, campaign: str | None) -> str:
    """Return ``campaign``, or the latest one; exit with one line when there is none."""
    from crystaloop.stores.campaigns import CampaignStore
    from crystaloop.stores.factory import open_store

    try:
        found = campaign or CampaignStore(open_store(settings, "campaigns")).latest()
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err
    if not found:
        raise click.ClickException("no campaign has been started ('crystaloop run' or 'submit')")
    return found
