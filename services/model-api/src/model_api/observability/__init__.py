"""Observability: the Prometheus metrics (declared once, on their own registry, bounded labels)
and the JSON logs. At the bottom with settings and errors: it imports no other model_api layer.
"""
