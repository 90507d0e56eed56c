"""The progress bar shown while the API judges a labelled file (evaluate, compare): it follows
the API's progress stream, the share of the file read, then the metrics being computed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from model_contract import EvaluationProgress

from model_ui.client import Progress
from model_ui.text import md


def progress_text(progress: EvaluationProgress, rows: int, what: str) -> str:
    """What the bar says (Markdown): ``what`` is being done to ``rows`` rows (the UI's count of
    the file); ``what`` is shown as text."""
    what = md(what)
    if progress.stage == "metrics":
        return f"{what}: all {progress.rows:,} rows read; computing the metrics…"
    return f"{what}: {progress.rows:,} of {rows:,} rows ({progress.fraction:.0%} of the file)"


@contextmanager
def judging(rows: int, what: str) -> Iterator[Progress]:
    """A progress bar for the length of the block; what it yields is handed to the client
    call, which reports each progress line to it."""
    bar = st.progress(0.0, text=f"{md(what)}: sending {rows:,} rows to the model API…")

    def show(progress: EvaluationProgress) -> None:
        fraction = 1.0 if progress.stage == "metrics" else progress.fraction
        bar.progress(min(max(fraction, 0.0), 1.0), text=progress_text(progress, rows, what))

    try:
        yield show
    finally:
        bar.empty()
