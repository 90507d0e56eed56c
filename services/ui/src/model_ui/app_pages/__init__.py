"""One Streamlit page per module; app.py routes to them."""
