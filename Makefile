# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3.11)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run analysis test bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "error: $(PYTHON) is not Python >= 3.11 (run: make PYTHON=/path/to/python3.11 ...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

## The default design-space sweep (architectures/sweeps/default.yaml) and its Pareto report.
## An interrupted run resumes where it stopped; a finished sweep is not recomputed.
run: $(STAMP)
	$(VENV)/bin/einsumx sweep --spec architectures/sweeps/default.yaml --out reports/sweep
	$(VENV)/bin/einsumx report reports/sweep --out reports/sweep/report
	@echo "Pareto report: reports/sweep/report/index.html (also report.md, pareto.csv)"

## Static analysis of every shipped workload and the FuseMax study.
analysis: $(STAMP)
	$(VENV)/bin/einsumx report workloads/*.yaml --out reports/analysis
	@mkdir -p reports/fusemax
	$(VENV)/bin/einsumx reproduce fusemax --out reports/fusemax > reports/fusemax/table.txt
	@echo "FuseMax study written: reports/fusemax/table.txt and figures"

## Run the test suite.
test: $(STAMP)
	$(PY) -m pytest

## Time the analysis of every shipped workload.
bench: $(STAMP)
	$(PY) benchmarks/bench_analyze.py
	$(PY) benchmarks/bench_model.py
	$(PY) benchmarks/bench_sweep.py

clean:
	rm -rf $(VENV) reports .pytest_cache .hypothesis
