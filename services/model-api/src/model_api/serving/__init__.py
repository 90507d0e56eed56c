"""Serving: the bundle format and its loading, the registry of served models, the XGBoost runtime
(with its direct C predict), micro-batching. It knows nothing of HTTP: it never imports FastAPI or
Starlette, nor protocol/ or http/, nor authoring/ (pandas); the registry alone reaches up to
codecs/, to build each model's decoders once when it loads the model.
"""
