"""Streamlit UI of the model serving stack: it talks to the model API over HTTP only."""

__version__ = "0.1.0"
