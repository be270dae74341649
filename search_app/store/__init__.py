"""Where the vectors live: the Chroma client and its collections (client.py), the model a
collection is bound to (binding.py), the store's health on disk (health.py) and the one
writer's lock (lock.py)."""
