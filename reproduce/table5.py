"""Table 5 (CVPR 2015): SIFT Flow, the two-headed FCN-16s (33 semantic and 3 geometric classes), test split.

Command: ``make reproduce-table5`` (= ``.venv/bin/python -m reproduce.table5``); ``SMOKE=1`` for the wiring check.

Expected (paper): FCN-16s pixel acc. 85.2, mean acc. 51.7, mean IU 39.5, f.w. IU 76.1, geometric pixel acc.
94.3, with the paper's averaging: mean IU over the classes present in the 200 test images (cow, desert and moon
never occur). The reference's own scorer also counts classes predicted but absent; both are printed. The
siftflow-fcn32s and -fcn8s releases have no paper row and are scored for information. No score is published
for any SIFT Flow release: every row is informational (no pass/fail).

Needs: ``make weights NET=siftflow-fcn16s`` (and siftflow-fcn32s, siftflow-fcn8s), ``make data
DATASET=siftflow``.

Hardware and time (measured here on a 2-core CPU: a VGG16 FCN ~8 s and FCN-AlexNet ~1.7 s per 500x375 image while
other jobs shared the machine, ~2.4 s and ~0.4 s per 500x500 image on the idle machine (make bench), so the
hours below shrink to about a third when idle; a GPU was not available to measure; the paper's 2015
K40c took ~175 ms per image): SIFT Flow's 256x256
images take a few seconds each on a 2-core CPU, about 15 minutes per net for the 200 test images (three nets);
a GPU, under a minute per net. Smoke run: about 30 s on the CPU.
"""

from __future__ import annotations

import sys

from . import distributed
from .metrics import scores
from .runner import Context, Outcome, run_table
from .tables import TABLE5, Row


def measure(ctx: Context, row: Row, outcome: Outcome) -> None:
    ev = ctx.evaluations.get(row.net) if row.net else None
    if ev is None:
        return
    reference = scores(ev.hists["score_sem"], present_only=False)
    outcome.extra["semantic mean IU, reference scorer (present or predicted classes)"] = 100 * reference["mean_iu"]
    from data import CLASSES

    names = CLASSES[("siftflow", "sem")]
    absent = [names[i] for i, n in enumerate(ev.hists["score_sem"].sum(axis=1)) if n == 0]
    outcome.extra["semantic classes absent from the ground truth"] = ", ".join(absent) or "none"


def main(argv: list[str] | None = None) -> int:
    return run_table(TABLE5, __doc__, argv, measure=measure)


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
