"""The frame around every page: which API, is it ready, which model; and the error banner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import streamlit as st

from model_ui import state
from model_ui.client import ApiError
from model_ui.schemas import ModelList, ModelMetadata

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
    """A clear message naming the URL tried and what went wrong, with a Retry button."""
    lines = [f"**{error.headline}** while {action}.", f"URL tried: `{error.url}`", error.message]
    if error.details:
        lines.append("\n".join(f"- {detail}" for detail in error.details[:20]))
    if error.kind in ("unreachable", "timeout"):
        lines.append(
            "Check that the API is running and that `MODEL_UI_API_URL` points to it "
            f"(now `{state.settings().base_url}`)."
        )
    st.error("\n\n".join(lines), icon=":material/error:")
    if retry and st.button("Retry", key=f"retry:{action}", icon=":material/refresh:"):
        state.clear_caches()
        st.rerun()


def fail(error: ApiError, action: str) -> NoReturn:
    """Show the banner and end this page's run."""
    error_banner(error, action)
    st.stop()
    raise AssertionError("st.stop() returned")  # unreachable: st.stop() ends the run


def _status() -> None:
    settings = state.settings()
    st.caption("Model API")
    st.markdown(f"[`{settings.base_url}`]({settings.shown_url}/docs)")
    readiness = state.client().readiness()
    if readiness.ready:
        count = len(readiness.models)
        st.success(
            f"Ready · {count} model{'s' if count != 1 else ''}", icon=":material/check_circle:"
        )
    elif readiness.reachable:
        st.warning(f"Not ready · {readiness.problem}", icon=":material/hourglass_top:")
    else:
        state_text = "Not answering" if readiness.status == "timeout" else "Unreachable"
        st.error(f"{state_text} · {readiness.problem}", icon=":material/cloud_off:")
    if readiness.failed:
        st.caption("Failed bundles: " + "; ".join(f"{k}: {v}" for k, v in readiness.failed.items()))


def sidebar() -> Frame:
    """Draw the connection header and the model picker; remember the result for the page."""
    with st.sidebar:
        _status()
        try:
            listing = state.models()
        except ApiError as error:
            frame = Frame(error=error)
        else:
            frame = _picker(listing)
    st.session_state[FRAME] = frame
    return frame


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
    version = st.selectbox(
        "Version",
        summary.versions,
        key=f"version:{name}",
        help="Versions of this model, newest first.",
    )
    if summary.description:
        st.caption(summary.description)
    return Frame(listing=listing, name=name, version=version)


def selected_model() -> ModelMetadata:
    """The chosen model's metadata; on any failure the banner is shown and the run stops."""
    frame = st.session_state.get(FRAME)
    if not isinstance(frame, Frame):
        frame = sidebar()
    if frame.error is not None:
        fail(frame.error, "listing the models")
    if frame.name is None or frame.version is None:
        st.info("Nothing to show: the API serves no models yet.")
        st.stop()
    try:
        return state.metadata(frame.name, frame.version)
    except ApiError as error:
        fail(error, f"reading the metadata of {frame.name} version {frame.version}")
