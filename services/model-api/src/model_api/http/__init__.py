"""HTTP: the only layer that imports FastAPI and Starlette: the app factory, the routes, the model
operations table and the fast path built from it, the middleware, errors and their two body
shapes, OpenAPI and the docs page, the uvicorn server. It reads requests, calls protocol/, and
builds responses; nothing below it imports it, and it never imports authoring/.
"""
