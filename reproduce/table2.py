"""Table 2 (CVPR 2015): skip FCNs on seg11valid, and the pass/fail check of the VOC releases.

Command: ``make reproduce-table2`` (= ``.venv/bin/python -m reproduce.table2``); ``SMOKE=1`` for the wiring check.

Expected: the released weights score on seg11valid (736 images) what the reference README gives, within 0.1 mean IU
(PASS/FAIL): voc-fcn32s {voc-fcn32s}, voc-fcn16s {voc-fcn16s}, voc-fcn8s {voc-fcn8s}, and the at-once voc-fcn8s-atonce
{voc-fcn8s-atonce}. The paper's rows (FCN-32s {voc-fcn32s T2}, FCN-16s {voc-fcn16s T2}, FCN-8s {voc-fcn8s T2} mean IU;
CVPR recipe: batch 20, momentum 0.9) are printed beside them with the delta, for information: the releases are the
later "heavy" models and score about 3 points higher. FCN-32s-fixed ({voc-fcn32s:fixed T2}) was never released: it is
voc-fcn32s's training variant "fixed" (only score_fr learns, CVPR regime), and the row prints the commands that train
it; ``--retrained --weights voc-fcn32s:fixed=FILE`` judges such a run against {voc-fcn32s:fixed T2} at 1.0 (a kit
snapshot records its variant, and a file given under the other row's name is refused).

Needs: ``make weights NET=voc-fcn32s`` (and voc-fcn16s, voc-fcn8s, voc-fcn8s-atonce), ``make data
DATASET=voc`` (VOC2012, SBD and the reference's seg11valid list: VOC2011's images and labels as VOC2012 holds them).

Hardware and time (measured here on a 2-core CPU: a VGG16 FCN ~8 s and FCN-AlexNet ~1.7 s per 500x375 image while
other jobs shared the machine, ~2.4 s and ~0.4 s per 500x500 image on the idle machine (make bench), so the
hours below shrink to about a third when idle; a GPU was not available to measure; the paper's 2015
K40c took ~175 ms per image): a 2-core CPU takes
about 1.6 hours per net, four nets; a GPU, a few minutes per net. Results are cached in results/evaluations/
per weights, split, code revision and device. Smoke run: about 20 s on the CPU.
"""

from __future__ import annotations

import sys

from . import distributed
from .runner import run_table
from .tables import TABLE2, with_figures

__doc__ = with_figures(__doc__)  # the release scores and paper numbers, read from the net records


def main(argv: list[str] | None = None) -> int:
    return run_table(TABLE2, __doc__, argv)


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
