# authchaos: `make run` runs the resilience suite, `make test` runs the tests.
# Both set themselves up first (scripts/bootstrap is idempotent and quick when done).
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
# The default resilience suite (~2 min on the real backend); SUITE= runs every scenario, SUITE=matrix the
# 66-cell network matrix.
SUITE ?= gate regression legacy process

.PHONY: nightly setup run test test-unit test-integration lint format bench fuzz clean

setup:
	@scripts/bootstrap

run: setup
	$(BIN)/authchaos run $(SUITE) $(ARGS)

test: setup
	$(BIN)/pytest -q --durations=15 $(ARGS)

test-unit: setup
	$(BIN)/pytest -q tests/unit $(ARGS)

test-integration: setup
	$(BIN)/pytest -q tests/integration $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Speed targets as ratios measured in one run: in-process baselines, and each HTTP path against a floor app
# built from the same libraries, driven by wrk (scripts/bootstrap installs it; without it the bench exits 2).
bench: setup
	$(BIN)/python -m benchmarks $(ARGS)

# The long fuzz profile on the real backend (> 10,000 generated requests); CI runs a bounded one in `make test`.
FUZZ_EXAMPLES ?= 1500
fuzz: setup
	AUTHCHAOS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -s tests/integration/test_fuzz_real.py $(ARGS)

# The slow proofs, nightly and before a release: the full gate, every switch through every scenario, and every
# mutant against the whole gate on three seeds, each needing its first trial (about 1.5 h on 2 cores).
NIGHTLY_SEEDS ?= 101 202 303
nightly: setup
	$(BIN)/authchaos gate --full
	$(BIN)/authchaos prove --switches --exhaustive
	for seed in $(NIGHTLY_SEEDS); do $(BIN)/authchaos prove --mutants --trials 1 --seed $$seed || exit 1; done

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .hypothesis reports/2* reports/latest
