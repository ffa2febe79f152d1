# musicrec: `make test` and `make demo` work on a fresh clone with nothing installed by hand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Demo scale: small enough that a fresh `make demo` (install included) takes about 5 minutes.
DEMO_USERS ?= 20000
DEMO_TRACKS ?= 20000
DEMO_EVENTS ?= 1500000
DEMO_SEED ?= 42

RAW_DIR := data/raw
PREPARED_DIR := data/prepared
ARTIFACTS_DIR := artifacts

.PHONY: install test lint demo data-demo prepare train serve notebook data-movielens bench-full clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check .

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

# Generates the demo data only when data/raw has no parquet files (real files are never overwritten).
data-demo: install
	@if ls $(RAW_DIR)/*.parquet >/dev/null 2>&1; then \
		echo "$(RAW_DIR) already has data: not generating"; \
	else \
		$(PY) -m musicrec data synth --users $(DEMO_USERS) --tracks $(DEMO_TRACKS) \
			--events $(DEMO_EVENTS) --seed $(DEMO_SEED) --out $(RAW_DIR); \
	fi

prepare: install
	$(PY) -m musicrec prepare --raw $(RAW_DIR) --out $(PREPARED_DIR)

# Trains every artifact from the prepared data (split, popular, ALS, similar, ranker, metrics, export).
train: install
	$(PY) -m musicrec train --prepared $(PREPARED_DIR) --artifacts $(ARTIFACTS_DIR)

# Trains only when the artifacts are missing (`make train` retrains what changed: a new run, made current
# when complete; `python -m musicrec train --force` reruns every step).
demo: data-demo prepare
	@if [ -f $(ARTIFACTS_DIR)/CURRENT ] || { [ -f $(ARTIFACTS_DIR)/recommendations.parquet ] && \
		[ -f $(ARTIFACTS_DIR)/manifest.json ]; }; then \
		echo "$(ARTIFACTS_DIR) already has artifacts: not training (make train retrains)"; \
	else \
		$(MAKE) --no-print-directory train; \
	fi
	$(MAKE) --no-print-directory serve

# The three services (ports from config.ini [urls]) until Ctrl-C; then try `python test_service.py`.
serve: install
	MUSICREC_PATHS__ARTIFACTS_DIR=$(ARTIFACTS_DIR) $(PY) -m musicrec serve

# Executes recommendations.ipynb in place over the demo directories (trains only if artifacts are stale).
notebook: install
	$(VENV)/bin/jupyter-execute --inplace recommendations.ipynb

# MovieLens 100k, taken from the recbole wheel on PyPI (no need to install recbole).
# The training pipeline at the real size (1.37M users, 1M tracks, 222.6M listens): hours, ~15 GB; not in CI.
bench-full: install
	$(PY) -m bench.pipeline --scale full

data-movielens: install
	mkdir -p data/downloads
	test -f data/downloads/ml-100k/ml-100k.inter || ( \
		cd data/downloads && ../../$(PY) -m pip download --quiet --no-deps recbole==1.2.1 -d . && \
		../../$(PY) -c "import zipfile,glob; z=zipfile.ZipFile(glob.glob('recbole-1.2.1-*.whl')[0]); \
[z.extract(n, 'wheel') for n in z.namelist() if n.startswith('recbole/dataset_example/ml-100k/')]" && \
		rm -rf ml-100k && mv wheel/recbole/dataset_example/ml-100k ml-100k && rm -rf wheel )
	$(PY) -m musicrec data movielens data/downloads/ml-100k --out data/movielens/raw
	$(PY) -m musicrec prepare --raw data/movielens/raw --out data/movielens/prepared

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
