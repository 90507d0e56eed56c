"""Codecs: bytes and values to the model's float32 matrix and back: v1 records (with the native
parser ``_records``), V2 tensors and their JSON, CSV text, response rows. No HTTP: it never
imports FastAPI or Starlette, nor protocol/ or http/; it uses serving/ only for the model's
metadata and outputs.
"""
