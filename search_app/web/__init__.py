"""The web front ends: the gradio page (app.py) over the page's logic (page.py), its escaped
HTML cards (cards.py) and extra tabs (tabs.py), behind the ASGI guard (guard.py)."""
