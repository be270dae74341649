"""The web front ends: the gradio page (app.py) over the page's logic (page.py), its escaped
HTML cards (cards.py) and extra tabs (tabs.py), behind the ASGI guard (guard.py)."""

from search_app.web.gradio_stubs import skip_stub_rewrite

skip_stub_rewrite()  # before any `import gradio` below this package: 1.1 s of its import
