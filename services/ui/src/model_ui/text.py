"""Text from a model bundle or an API answer is untrusted: the UI shows it as text, not Markdown.

Streamlit renders Markdown (links, images, HTML-like syntax, ``:material/...:`` icons,
``:red[...]`` colours, ``$...$`` maths) in ``st.markdown``, captions, alerts, metric and widget
labels and help texts. A bundle's description or a feature name must not be able to add a link
or load an image there, so every such string goes through ``md`` first.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character: CommonMark lets a backslash escape any of them, which makes
# each one literal (no emphasis, link, image, autolink, HTML, directive or maths can start).
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md(text: object) -> str:
    """``text`` as literal Markdown: punctuation escaped, line breaks and runs of space as one space."""
    flat = " ".join(str(text).split())
    return _ASCII_PUNCTUATION.sub(r"\\\1", flat)
