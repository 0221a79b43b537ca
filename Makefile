# Thin wrappers: every target is one command; `make setup` is the only prerequisite.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup test test-caffe audit bench lint weights data clean \
        reproduce-table1 reproduce-table2 reproduce-table3 reproduce-table4 reproduce-table5 reproduce-table6

setup: $(STAMP)
$(STAMP): requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install --quiet -r requirements.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -m "not caffe" -q

test-caffe: $(STAMP)
	bash tests/caffe/build_caffe.sh
	$(PY) -m pytest -m caffe -q -s $(if $(WEIGHTS),--weights=$(WEIGHTS) --net=$(NET) --image=$(IMAGE))

audit: $(STAMP)
	$(PY) -m nets.audit

bench: $(STAMP)
	$(PY) -m nets.bench
	$(PY) -m data.bench

lint: $(STAMP)
	$(PY) -m ruff check .

weights: $(STAMP)
	$(PY) -m weights.zoo fetch $(NET)

data: $(STAMP)
	$(PY) -m data.download $(DATASET)

reproduce-table%: $(STAMP)
	$(PY) -m reproduce.table$* $(if $(SMOKE),--smoke)

clean:
	rm -rf .venv .pytest_cache .ruff_cache .tox results
