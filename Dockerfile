# gifsearch app image: ingests into the Chroma server named by GIFSEARCH_CHROMA_HOST,
# then serves the web app on port 7860. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GIFSEARCH_CACHE_DIR=/cache/gifsearch \
    HF_HOME=/cache/huggingface

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY gifsearch ./gifsearch
COPY ingest ./ingest
COPY search_app ./search_app
COPY exercises ./exercises
# constraints.txt pins the torch release the project is tested with.
RUN pip install -c constraints.txt .

RUN useradd --create-home --uid 1000 gifsearch && mkdir -p /cache && chown gifsearch /cache
USER gifsearch
EXPOSE 7860

# Ingest is idempotent (content-hash ids), so a restarted container re-runs it cheaply.
CMD ["sh", "-c", "gifsearch ingest && exec gifsearch serve --host 0.0.0.0 --port 7860"]
