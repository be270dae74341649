"""What turns text and images into vectors: the sentence-transformers model (sbert.py), the
ONNX query embedder (onnx_embedder.py, built and verified by onnx_export.py), which of the
two answers queries (query_embedder.py), CLIP's pixels without torch
(image_preprocessing.py) and the frames a GIF is embedded by (frames.py)."""
