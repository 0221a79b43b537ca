"""Table 6 (arXiv v2 appendix): PASCAL-Context val (5105 images), the 59-class task.

Command: ``make reproduce-table6`` (= ``.venv/bin/python -m reproduce.table6``); ``SMOKE=1`` for the wiring check.

Expected (paper, 59 classes; pixel acc. / mean acc. / mean IU / f.w. IU): FCN-32s 63.8 / 42.7 / 31.8 / 48.3,
FCN-16s 65.7 / 46.2 / 34.8 / 50.7, FCN-8s 65.9 / 46.5 / 35.1 / 51.0. The reference's nets have 60 outputs
(0 = background/other); whether the paper averaged 59 or 60 classes is not known, so the kit prints the
60-class scores in the columns and the 59-class mean IU (class 0 left out) beside them. The 33-class columns
need a label mapping the kit does not have: not checkable. No score is published for the Context releases:
every row is informational (no pass/fail).

Needs: ``make weights NET=pascalcontext-fcn32s`` (and -fcn16s, -fcn8s), ``make data DATASET=pascalcontext``
(the Context labels and VOC2010).

Hardware and time (measured here on a 2-core CPU: a VGG16 FCN ~8 s and FCN-AlexNet ~1.7 s per 500x375 image while
other jobs shared the machine, ~2.4 s and ~0.4 s per 500x500 image on the idle machine (make bench), so the
hours below shrink to about a third when idle; a GPU was not available to measure; the paper's 2015
K40c took ~175 ms per image): 5105 VOC-sized
images take about 11 hours per net on a 2-core CPU (three nets); a GPU, about 15 minutes per net. Smoke run:
about 30 s on the CPU.
"""

from __future__ import annotations

import sys

import numpy as np

from . import distributed
from .runner import Context, Outcome, run_table
from .tables import TABLE6, Row


def measure(ctx: Context, row: Row, outcome: Outcome) -> None:
    ev = ctx.evaluations.get(row.net) if row.net else None
    if ev is None:
        return
    iu = np.array(ev.scores()["per_class_iu"], dtype=np.float64)
    outcome.extra["mean IU over the 59 classes (class 0 left out)"] = 100 * float(np.nanmean(iu[1:]))
    outcome.extra["33-class columns"] = "not checkable (no 33-class mapping)"


def main(argv: list[str] | None = None) -> int:
    return run_table(TABLE6, __doc__, argv, measure=measure)


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
