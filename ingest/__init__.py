"""The ingestion job: TGIF-format GIF sets -> cleaned, sampled rows -> embeddings -> Chroma."""
