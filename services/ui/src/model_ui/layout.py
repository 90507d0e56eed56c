"""The frame around every page: which API, is it ready, which model; and the error banner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import streamlit as st
from model_contract import ModelList, ModelMetadata, ModelSummary

from model_ui import state
from model_ui.client import API, ApiError
from model_ui.schemas import Readiness
from model_ui.text import md

FRAME = "_frame"
MODEL_KEY = "model"


@dataclass(frozen=True)
class Frame:
    """What the sidebar found this run: the model list and the chosen model, or the error."""

    listing: ModelList | None = None
    name: str | None = None
    version: str | None = None
    error: ApiError | None = None


def error_banner(error: ApiError, action: str, *, retry: bool = True) -> None:
    """A clear message naming the URL tried and what went wrong, with a Retry button.

    The service's words (message, details, error code) and model names in ``action`` are shown
    as text; the URL is the configured one with quoted path segments."""
    lines = [
        f"**{md(error.headline)}** while {md(action)}.",
        f"URL tried: `{error.url}`",
        md(error.message),
    ]
    if error.details:
        lines.append("\n".join(f"- {md(detail)}" for detail in error.details[:20]))
    if error.kind in ("unreachable", "timeout") and error.service == API:
        lines.append(
            "Check that the API is running and that `MODEL_UI_API_URL` points to it "
            f"(now `{state.settings().base_url}`)."
        )
    if error.refused_key:
        lines.append(_key_advice())
    st.error("\n\n".join(lines), icon=":material/error:")
    if retry and st.button("Retry", key=f"retry:{action}", icon=":material/refresh:"):
        state.clear_caches()
        st.rerun()


def fail(error: ApiError, action: str) -> NoReturn:
    """Show the banner and end this page's run."""
    error_banner(error, action)
    st.stop()
    raise AssertionError("st.stop() returned")  # unreachable: st.stop() ends the run


def _key_advice() -> str:
    if state.settings().api_key is None:
        return "The UI sends no API key: set `MODEL_UI_API_KEY` to the API's key."
    return "The key in `MODEL_UI_API_KEY` is not the one the API expects."


def _status(listing_error: ApiError | None) -> None:
    settings = state.settings()
    st.caption("Model API")
    st.markdown(f"[`{settings.base_url}`]({settings.shown_url}/docs)")
    readiness = state.client().readiness()
    if listing_error is not None and listing_error.refused_key:
        # /readyz needs no key, so "ready" alone would hide that every other call is refused.
        st.error(
            f"Refuses the UI's calls · {listing_error.status}: {md(listing_error.message)}",
            icon=":material/key_off:",
        )
        st.caption(_key_advice())
    else:
        _readiness(readiness)
    if readiness.failed:
        failed = "; ".join(f"{md(k)}: {md(v)}" for k, v in readiness.failed.items())
        st.caption("Failed bundles: " + failed)


def _readiness(readiness: Readiness) -> None:
    if readiness.ready:
        count = len(readiness.models)
        st.success(
            f"Ready · {count} model{'s' if count != 1 else ''}", icon=":material/check_circle:"
        )
    elif readiness.reachable:
        st.warning(f"Not ready · {md(readiness.problem)}", icon=":material/hourglass_top:")
    else:
        state_text = "Not answering" if readiness.status == "timeout" else "Unreachable"
        st.error(f"{state_text} · {md(readiness.problem)}", icon=":material/cloud_off:")


def sidebar() -> Frame:
    """Draw the connection header and the model picker; remember the result for the page."""
    with st.sidebar:
        try:
            listing = state.models()
        except ApiError as error:
            _status(error)
            frame = Frame(error=error)
        else:
            _status(None)
            frame = _picker(listing)
    st.session_state[FRAME] = frame
    state.keep_author_in_address()
    return frame


def selection() -> Frame:
    """What the sidebar found in this run (drawing it first when it has not run yet)."""
    frame = st.session_state.get(FRAME)
    return frame if isinstance(frame, Frame) else sidebar()


def _picker(listing: ModelList) -> Frame:
    if not listing.models:
        st.info("The API serves no models.")
        return Frame(listing=listing)
    by_name = {m.name: m for m in listing.models}
    name = st.selectbox(
        "Model",
        list(by_name),
        key=MODEL_KEY,
        format_func=lambda n: f"{n} ({by_name[n].task})",
        help="Every model the API serves.",
    )
    summary = by_name[name]
    versions = summary.versions
    version = st.selectbox(
        "Version",
        versions,
        index=versions.index(summary.version) if summary.version in versions else 0,
        key=f"version:{name}",
        format_func=lambda v: _version_label(summary, v),
        help="Versions of this model, newest first; the default one answers requests that "
        "name no version.",
    )
    description = _description(name, version)
    if description:
        st.caption(md(description))
    return Frame(listing=listing, name=name, version=version)


def _version_label(summary: ModelSummary, version: str) -> str:
    """``2 · default, production``: a version with what names it."""
    names = ["default"] if version == summary.version else []
    names += sorted(a for a, v in summary.aliases.items() if v == version)
    return f"{version} · {', '.join(names)}" if names else version


def _description(name: str, version: str) -> str | None:
    """The chosen version's own description (the listing carries the newest version's)."""
    try:
        return state.metadata(name, version).description
    except ApiError:
        return None  # the page shows the banner


def selected_model() -> ModelMetadata:
    """The chosen model's metadata; on any failure the banner is shown and the run stops."""
    frame = selection()
    if frame.error is not None:
        fail(frame.error, "listing the models")
    if frame.name is None or frame.version is None:
        st.info("Nothing to show: the API serves no models yet.")
        st.stop()
    try:
        return state.metadata(frame.name, frame.version)
    except ApiError as error:
        fail(error, f"reading the metadata of {frame.name} version {frame.version}")
