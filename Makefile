# Thin wrappers: every target is one command; `make setup` is the only prerequisite.
# The kit's own environment (VENV= moves it): the pinned requirements, and the kit itself installed editable, so
# that `import nets, weights, data, reproduce` works from any folder with $(VENV)/bin/python; then the kit's
# packages go on the path (python -m data.kitpath): the editable install's import hook comes after the path
# search, so a plain folder named weights/ or data/ where a command runs would be imported in the kit's place.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# What you pass (make data SOURCE=..., WEIGHTS=..., NET=...) reaches the kit through the environment, as
# FCN_MAKE_<NAME>, never through the shell's parsing or make's own expansion, so any value works: spaces, quotes,
# $, backticks, unicode. $(value X) is X as typed; a recipe names it "$$FCN_MAKE_X", which the shell expands to
# exactly one word without reading what is in it. SOURCE and ARGS are lists: the kit splits them into words as a
# shell would (shlex; quote a path that holds spaces), and runs nothing. A target that takes a new value adds its
# name here.
USER_VALUES := DATASET SOURCE NET WEIGHTS INIT RESUME REGIME VARIANT PRECISION ARGS SMOKE NPROC IMAGE GUPTA ROWS \
               RESULTS GPUS PLAN FORCE PORT KWARGS INPUT HTML
unexport $(USER_VALUES)
$(foreach v,$(USER_VALUES),$(eval export FCN_MAKE_$(v) = $$(value $(v))))
given = $(value $(1))
# NPROC=N runs evaluate, train and the tables under torchrun with N processes (one GPU each; README).
RUN := $(if $(call given,NPROC),$(PY) -m torch.distributed.run --nproc_per_node="$$FCN_MAKE_NPROC",$(PY))

.PHONY: setup test test-all test-gpu test-caffe test-octave test-browser audit audit-port bench bench-docs lint weights weights-list data data-list evaluate \
        train clean \
        reproduce-table1 reproduce-table2 reproduce-table3 reproduce-table4 reproduce-table5 reproduce-table6

setup: $(STAMP)
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --editable .
	$(PY) -m data.kitpath
	touch $(STAMP)

# The test tiers (CONTRIBUTING.md): make test is the fast tier (at most 300 s on a quiet 2-core machine), every
# package with its semantic checks; make test-all adds the slow tier (full-size nets, torchrun launches, the GPU
# check's CPU dry run, a fresh venv), as CI runs it. Caffe, GPU and browser tests have targets of their own.
# Both print the slowest tests (--durations), to keep the budget honest.
# TEST_ENV: the tests build and drop hundreds of full-size nets (half a gigabyte of weights each), and glibc hands
# every large block back to the kernel when it is freed, so the next net page-faults it in again, which costs more
# system time than the arithmetic on a virtual machine; kept in the process's heap instead, the fast tier ran in
# 304 s instead of 380 s on a 2-core machine (peak RSS 11 GB). It changes no result, only where freed memory goes.
TEST_ENV := MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736
test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -m "not slow and not caffe and not gpu and not browser and not octave" -q --durations=15

test-all: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -m "not caffe and not gpu and not browser and not octave" -q --durations=15

# The CUDA cases (golden fixtures, layer semantics, inference path, precision): fails at once without a GPU.
test-gpu: $(STAMP)
	$(PY) -m pytest -m gpu --require-gpu -q

# With WEIGHTS=x.caffemodel NET=name IMAGE=file, only the check on those released weights runs.
test-caffe: $(STAMP)
	bash tests/caffe/build_caffe.sh
	$(PY) -m pytest -m caffe -q -rA $(if $(call given,WEIGHTS),-s tests/caffe/test_released_weights.py --weights="$$FCN_MAKE_WEIGHTS" --net="$$FCN_MAKE_NET" --image="$$FCN_MAKE_IMAGE")

# Gupta's HHA code run unmodified by GNU Octave (apt-get install octave octave-image) against data.hha: GUPTA= a
# folder holding clones of s-gupta/rcnn-depth, rgbdutils and nyu-hooks (without it: what to clone and install).
test-octave: $(STAMP)
	$(PY) tests/octave/gupta.py $(if $(call given,GUPTA),"$$FCN_MAKE_GUPTA")
	$(PY) -m pytest -m octave -q -rA --gupta="$$FCN_MAKE_GUPTA"

# The geometry audit of every net, then the report it feeds: results/audit/index.html and summary.md.
audit: $(STAMP)
	$(PY) -m reproduce.audit
	$(PY) -m reproduce.audit.ledger
	$(PY) -m reproduce.audit.report

# A third-party PyTorch FCN against a kit net (docs/audit.md): PORT=FILE.py:FACTORY (or module.path:FACTORY) NET=name,
# optionally KWARGS='{"n_class": 21}', INPUT=rgb01, HTML=1. Loading the port runs its code. Like every value you
# pass, PORT, KWARGS and INPUT reach the command as typed, through the environment.
audit-port: $(STAMP)
	$(if $(call given,PORT),,$(error make audit-port needs PORT=FILE.py:FACTORY or PORT=module.path:FACTORY, for example: make audit-port PORT=myfcn.py:FCN8s NET=voc-fcn8s))$(call need-net,voc-fcn8s)$(PY) -m reproduce.audit.port "$$FCN_MAKE_PORT" --net="$$FCN_MAKE_NET" $(if $(call given,KWARGS),--kwargs="$$FCN_MAKE_KWARGS") $(if $(call given,INPUT),--input="$$FCN_MAKE_INPUT") $(if $(call given,HTML),--html)

# The audit page in headless chromium (Debian: apt-get install -y chromium); keeps results/audit/screenshot.png.
test-browser: $(STAMP)
	FCN_SCREENSHOT=results/audit/screenshot.png $(PY) -m pytest -m browser -q -rs

# The measuring tools of benchmarks/ (outside the kit's packages). Real Caffe joins the table once make
# test-caffe has built it (caffe_contestant.py says "not built" until then); GUPTA= as for test-octave adds
# Gupta's HHA code under Octave beside data.hha.
bench: $(STAMP)
	$(PY) -m benchmarks.inference --external "Caffe=$(PY) benchmarks/caffe_contestant.py {net} {size} {threads}"
	$(PY) -m benchmarks.loader
	$(PY) -m benchmarks.conversion
	$(PY) -m benchmarks.nyud_build
	$(PY) -m benchmarks.hha $(if $(call given,GUPTA),--gupta="$$FCN_MAKE_GUPTA")
	$(PY) -m benchmarks.port_audit
	$(PY) -m benchmarks.retrain_steps

# The measured tables of docs/performance.md, rendered from the records kept in benchmarks/records/ (copy a
# record of results/ over the kept one of the same name to show a new run); a test holds the page to them.
bench-docs: $(STAMP)
	$(PY) -m benchmarks.report --update docs/performance.md docs/data.md docs/retrain.md

lint: $(STAMP)
	$(PY) -m ruff check .

# A missing NET= stops make with what to pass, before any recipe runs.
need-net = $(if $(call given,NET),,$(error make $@ needs NET=<name>, for example: make $@ NET=$(1); the names: make weights-list))

# SOURCE="URL[#md5=HEX] ..." adds sources of your own (a lab mirror), tried first, in order (README: Weights).
weights: $(STAMP)
	$(call need-net,voc-fcn8s)$(PY) -m weights.zoo fetch "$$FCN_MAKE_NET" --sources="$$FCN_MAKE_SOURCE"

weights-list: $(STAMP)
	$(PY) -m weights.zoo list

# SOURCE="PART=URL_OR_PATH[#md5=HEX] ..." adds sources of your own (a file you already have, a lab mirror), tried
# first, in order; make data-list prints every part's sources and checksums.
data: $(STAMP)
	$(PY) -m data.download $(if $(call given,DATASET),"$$FCN_MAKE_DATASET") --sources="$$FCN_MAKE_SOURCE"

data-list: $(STAMP)
	$(PY) -m data.download --list

evaluate: $(STAMP)
	$(call need-net,voc-fcn8s)$(RUN) -m reproduce.evaluate "$$FCN_MAKE_NET" $(if $(call given,WEIGHTS),--weights="$$FCN_MAKE_WEIGHTS") --json="results/evaluate-$$FCN_MAKE_NET.json" --force $(if $(call given,PRECISION),--precision="$$FCN_MAKE_PRECISION")

# Without INIT (or RESUME) reproduce.train says which weights the net starts from and how to build them.
# REGIME=cvpr trains in the CVPR paper's regime; VARIANT=fixed (voc-fcn32s) trains only the final classifier.
train: $(STAMP)
	$(call need-net,voc-fcn32s INIT=fcn32s-init.h5)$(RUN) -m reproduce.train "$$FCN_MAKE_NET" $(if $(call given,INIT),--init="$$FCN_MAKE_INIT") $(if $(call given,RESUME),--resume="$$FCN_MAKE_RESUME") $(if $(call given,REGIME),--regime="$$FCN_MAKE_REGIME") $(if $(call given,VARIANT),--variant="$$FCN_MAKE_VARIANT") $(if $(call given,PRECISION),--precision="$$FCN_MAKE_PRECISION")

# PRECISION=bf16 (or tf32, fp16) runs evaluate, train and the tables in a fast mode; exact otherwise.
# WEIGHTS=NET=FILE (or WEIGHTS=FILE for a table of one net) evaluates FILE in NET's row, as for make evaluate.
# ARGS="..." passes the table script's other options, split by the kit as a shell would split them (shlex):
# ARGS="--retrained --weights 'voc-fcn32s=my weights.h5'".
# A static pattern rule: make never applies a plain pattern rule to a .PHONY target.
TABLES := reproduce-table1 reproduce-table2 reproduce-table3 reproduce-table4 reproduce-table5 reproduce-table6
$(TABLES): reproduce-table%: $(STAMP)
	$(RUN) -m reproduce.table$* $(if $(call given,SMOKE),--smoke) $(if $(call given,PRECISION),--precision="$$FCN_MAKE_PRECISION") $(if $(call given,WEIGHTS),--weights="$$FCN_MAKE_WEIGHTS") --args="$$FCN_MAKE_ARGS"

# The rows whose weights are gone, back by training: the reference's staged recipe from the ILSVRC nets, then the
# table's records (docs/retrain.md). ROWS="NET ..." picks rows, RESULTS= moves the tree (default results/retrain),
# GPUS=N runs up to N chains side by side (one GPU each), REGIME=cvpr with NPROC=N splits the CVPR batch over N
# ranks, PLAN=1 prints the plan and stops, FORCE=1 trains finished stages again, SMOKE=1 on the miniature data.
# ROWS joins ARGS: both are split into words by the kit (shlex), nothing in them run.
RETRAINS := retrain-table1 retrain-table4 retrain-table5 retrain-table6
.PHONY: $(RETRAINS)
$(RETRAINS): retrain-table%: $(STAMP)
	$(RUN) -m reproduce.retrain $* $(if $(call given,RESULTS),--results="$$FCN_MAKE_RESULTS") $(if $(call given,GPUS),--gpus="$$FCN_MAKE_GPUS") $(if $(call given,REGIME),--regime="$$FCN_MAKE_REGIME") $(if $(call given,PLAN),--plan) $(if $(call given,FORCE),--force) $(if $(call given,SMOKE),--smoke) $(if $(call given,PRECISION),--precision="$$FCN_MAKE_PRECISION") --args="$(if $(call given,ROWS),--rows $$FCN_MAKE_ROWS )$$FCN_MAKE_ARGS"

clean:
	rm -rf .venv .pytest_cache .ruff_cache .tox results
