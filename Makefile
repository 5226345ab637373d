.PHONY: run test bench lint

run:  ## start web, worker, beat, the carrier simulator and a demo receiver on http://127.0.0.1:8000
	scripts/run.sh

lint:  ## install the lint tools and run ruff (check + format), mypy and the import contracts
	scripts/lint.sh

test:  ## install test dependencies and run the suite (PostgreSQL if DATABASE_URL is set)
	scripts/test.sh

bench:  ## run the benchmarks against PostgreSQL and Redis
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python bench/run_all.py
