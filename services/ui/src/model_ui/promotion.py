"""A model's versions and aliases on the Model and Compare pages, and, when the UI holds the
API's admin key, the control that makes a version the default (promotion, and rollback)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from model_contract import ModelSummary

from model_ui import layout, state
from model_ui.client import ApiError
from model_ui.text import md

PRODUCTION = "production"


def versions_table(summary: ModelSummary) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "version": version,
                "answers by default": version == summary.version,
                "aliases": ", ".join(sorted(a for a, v in summary.aliases.items() if v == version)),
            }
            for version in summary.versions
        ]
    )


def summary_of(name: str) -> ModelSummary | None:
    listing = layout.selection().listing
    models = listing.models if listing is not None else []
    return next((m for m in models if m.name == name), None)


def promote_control(summary: ModelSummary, versions: list[str], key: str) -> None:
    """Buttons that make one of ``versions`` the model's default (and its ``production``
    alias), when the UI holds the admin key; a caption saying how otherwise."""
    client = state.client()
    if not client.can_promote:
        st.caption(
            "To promote a version from here, give the UI the API's admin key "
            "(`MODEL_UI_ADMIN_KEY`); or edit the model's `aliases.json`, or call the admin API."
        )
        return
    for version in versions:
        if version == summary.version:
            st.caption(f"Version {md(version)} answers by default.")
            continue
        if st.button(
            f"Make version {version} the default (and {PRODUCTION})",
            key=f"{key}:promote:{version}",
            icon=":material/rocket_launch:",
        ):
            try:
                current = client.model_aliases(summary.name)
                aliases = {**current.aliases, PRODUCTION: version}
                if current.answering != version:
                    aliases["previous"] = current.answering  # what a rollback goes back to
                done = client.set_aliases(summary.name, version, aliases)
            except ApiError as error:
                layout.error_banner(error, f"promoting version {version}", retry=False)
                return
            state.clear_caches()
            st.success(
                f"Version {md(done.answering)} of {md(summary.name)} answers by default now "
                f"(aliases: {md(', '.join(f'{a} → {v}' for a, v in sorted(done.aliases.items())))}"
                "). Other API replicas follow within their poll interval.",
                icon=":material/rocket_launch:",
            )
