"""Text from a model bundle or an API answer is untrusted: the UI shows it as text, not Markdown.

Streamlit renders Markdown (links, images, HTML-like syntax, ``:material/...:`` icons,
``:red[...]`` colours, ``$...$`` maths) in ``st.markdown``, titles, captions, alerts, metric
labels and values, expander and widget labels and help texts. A bundle's description or a
feature name must not be able to add a link or load an image there, so every such string goes
through ``md`` first. (Select box and multiselect options, data frames, charts and ``st.code``
show plain text already: they get the raw string, or they would show the backslashes.)
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"  # invisible; it only stops a word from joining the one before or after
# A backslash makes any ASCII punctuation literal (CommonMark). These characters start or close
# something wherever they are: code, emphasis, strikethrough, links and images ("!" and "(...)"
# mean nothing without "["), HTML and autolinks, entities, maths, tables, directive attributes.
_ALWAYS = re.compile(r"([\\`*~\[\]<>&$|{}^=#+])")
# "_" only emphasises at a word's edge ("bill_length_mm" stays plain).
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# ":" followed by a name opens a directive (":red[...]"), an icon (":material/home:") or an emoji
# (":smile:"); icons and emoji are found in the text after escapes are resolved, so a WORD
# JOINER (invisible) goes between the colon and the name ("Type: boolean" stays as it is).
_NAMED_COLON = re.compile(r":(?=\S)")
# At the start of a line: list items ("- ", "1. ", "1) "); "#", "+", ">" are escaped above.
_LIST_MARKER = re.compile(r"^(-|\d+[.)])")
# GitHub's autolink literals (``http://…``, ``www.…``, ``name@host``) are found in the text after
# escapes are resolved, so escaping cannot stop them. They only start after a space, punctuation
# or the start of the text (emails: right before "@"), so an invisible WORD JOINER there keeps
# the text as it reads while no link is made of it.
_AUTOLINK_START = re.compile(r"(https?|www|@)", re.IGNORECASE)


def md(text: object) -> str:
    """``text`` as literal Markdown on one line (line breaks and runs of space become a space).

    Only what could be read as Markdown is escaped, so the text stays readable where Streamlit
    passes the source on as is (a widget's accessible name)."""
    flat = " ".join(str(text).split())
    escaped = _ALWAYS.sub(r"\\\1", flat)
    escaped = _EDGE_UNDERSCORE.sub(r"\\_", escaped)
    escaped = _NAMED_COLON.sub(":" + WORD_JOINER, escaped)
    escaped = _LIST_MARKER.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], escaped)
    return _AUTOLINK_START.sub(WORD_JOINER + r"\1", escaped)
