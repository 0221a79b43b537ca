"""Measuring tools beside the kit, not inside it (as timm's benchmark.py sits outside the timm package): nothing
in nets/, weights/, data/ or reproduce/ imports them. Run them from the checkout, as ``make bench`` does:

- ``.venv/bin/python -m benchmarks.inference``: forward time, work and peak memory of each net family in every
  precision mode, beside torchfcn (benchmarks/torchfcn_import.py imports its model classes) and real Caffe
  (benchmarks/caffe_contestant.py, which runs benchmarks/caffe_worker.py under pycaffe);
- ``.venv/bin/python -m benchmarks.loader``: images per second through the evaluation loader;
- ``.venv/bin/python -m benchmarks.conversion``: time and memory of converting a full-size caffemodel.

Each takes ``--help``. The nets' seeded random weights come from the library (nets.seeded), as the smoke runs'
and the tests' do.
"""
