# The README's two commands are `make run` and `make test`.
.PHONY: run setup test test-slow lint format bench eval ingest serve settings-table

VENV := .venv/bin

setup:
	@scripts/setup.sh

run: setup
	$(VENV)/gifsearch ingest
	$(VENV)/gifsearch serve

test: setup
	@scripts/test.sh

eval: setup
	$(VENV)/gifsearch eval --source tgif-sample --out benchmarks/results/eval-sample-minilm-bf16.json
	$(VENV)/gifsearch eval --source tgif-sample ../shared/data/tgif-multicaption-dev.tsv \
		--protocol all-descriptions --out benchmarks/results/eval-sample+dev-minilm-bf16.json

bench: setup
	$(VENV)/gifsearch bench --out benchmarks/results/bench.json

test-slow: setup
	HF_HUB_OFFLINE=1 $(VENV)/pytest -m slow

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

format: setup
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

settings-table: setup
	@$(VENV)/python -c "from gifsearch.flags import settings_table; \
	from gifsearch.serve_cmd import ServeSettings; from search_app.settings import Settings; \
	print(settings_table((Settings, ServeSettings)))"
