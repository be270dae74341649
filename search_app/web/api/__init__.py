"""The HTTP API, on the page's port: one layer, three faces over the same SearchRequest.

native.py answers gifsearch's own JSON under /api/ (its OpenAPI document at
/api/openapi.json); giphy.py answers GIPHY's v1 dialect under /v1/ and tenor.py Tenor's v2
under /v2/: each dialect maps its parameters to a request and its hits to its own shape,
nothing more. context.py holds what they share (the engine, keys, the concurrency bound,
the GIF files of a folder source), keys.py the API keys, media.py the files and small
renditions, gate.py the outer guards (Host allow-list, CORS on the API paths).
"""
