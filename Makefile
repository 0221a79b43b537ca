# Thin wrappers: every target is one command; `make setup` is the only prerequisite.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup test test-caffe audit bench lint weights weights-list data evaluate train clean \
        reproduce-table1 reproduce-table2 reproduce-table3 reproduce-table4 reproduce-table5 reproduce-table6

setup: $(STAMP)
$(STAMP): requirements.txt requirements-nodeps.txt
	python3 -m venv .venv
	.venv/bin/pip install --quiet -r requirements.txt
	.venv/bin/pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -m "not caffe" -q

# With WEIGHTS=x.caffemodel NET=name IMAGE=file, only the check on those released weights runs.
test-caffe: $(STAMP)
	bash tests/caffe/build_caffe.sh
	$(PY) -m pytest -m caffe -q -rA $(if $(WEIGHTS),-s tests/caffe/test_released_weights.py --weights=$(WEIGHTS) --net=$(NET) --image=$(IMAGE))

audit: $(STAMP)
	$(PY) -m nets.audit

bench: $(STAMP)
	$(PY) -m nets.bench
	$(PY) -m data.bench
	$(PY) -m weights.bench

lint: $(STAMP)
	$(PY) -m ruff check .

weights: $(STAMP)
	$(PY) -m weights.zoo fetch $(NET)

weights-list: $(STAMP)
	$(PY) -m weights.zoo list

data: $(STAMP)
	$(PY) -m data.download $(DATASET)

evaluate: $(STAMP)
	$(PY) -m reproduce.evaluate $(NET) $(if $(WEIGHTS),--weights $(WEIGHTS)) --json results/evaluate-$(NET).json

train: $(STAMP)
	$(PY) -m reproduce.train $(NET) --init $(INIT) $(if $(RESUME),--resume $(RESUME))

# A static pattern rule: make never applies a plain pattern rule to a .PHONY target.
TABLES := reproduce-table1 reproduce-table2 reproduce-table3 reproduce-table4 reproduce-table5 reproduce-table6
$(TABLES): reproduce-table%: $(STAMP)
	$(PY) -m reproduce.table$* $(if $(SMOKE),--smoke)

clean:
	rm -rf .venv .pytest_cache .ruff_cache .tox results
