"""Protocol: what v1 and V2 mean: (model, request as ``messages.Incoming``, settings) to an answer
of bytes, or a CSV's lines. The routes and the fast path both call these functions, so both do
the same. It never imports FastAPI or Starlette, nor http/; ``schemas`` are the wire models.
"""
