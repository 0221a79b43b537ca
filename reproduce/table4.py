"""Table 4 (CVPR 2015): NYUDv2, RGB, depth and HHA inputs, on the 654 test images.

Command: ``make reproduce-table4`` (= ``.venv/bin/python -m reproduce.table4``); ``SMOKE=1`` for the wiring check.

Expected (paper, pixel acc. / mean acc. / mean IU / f.w. IU): FCN-32s RGB {nyud-fcn32s-color T4 scores}, HHA
{nyud-fcn32s-hha T4 scores}, RGB-HHA {nyud-fcn32s-color-hha T4 scores}; RGBD {nyud-fcn32s-color-d T4 scores} and FCN-16s
RGB-HHA {nyud-fcn16s-color-hha T4 scores} were never released: their rows print the commands that train them
(nyud-fcn32s-color-d; nyud-fcn16s-color-hha, the kit's two-stream FCN-16s, from nyud-fcn32s-color-hha). No
score is published for the releases (nyud-fcn32s-color, -hha, -color-hha), so every row is informational: paper
vs ours vs delta, no pass/fail.
A re-training run (``--retrained --weights NET=FILE``) is judged against its paper row at 1.0 mean IU.

Needs: ``make weights NET=nyud-fcn32s-color`` (and nyud-fcn32s-hha, nyud-fcn32s-color-hha), ``make data
DATASET=nyud``.

Hardware and time (measured here on a 2-core CPU: a VGG16 FCN ~8 s and FCN-AlexNet ~1.7 s per 500x375 image while
other jobs shared the machine, ~2.4 s and ~0.4 s per 500x500 image on the idle machine (make bench), so the
hours below shrink to about a third when idle; a GPU was not available to measure; the paper's 2015
K40c took ~175 ms per image): NYUD's 640x480
images cost about 1.6x a VOC image, so a 2-core CPU takes about 2.5 hours per net for the 654 test images and
twice that for the two-stream net; a GPU, a few minutes per net. Smoke run: about 25 s on the CPU.
"""

from __future__ import annotations

import sys

from . import distributed
from .runner import run_table
from .tables import TABLE4, with_figures

__doc__ = with_figures(__doc__)  # the release scores and paper numbers, read from the net records


def main(argv: list[str] | None = None) -> int:
    return run_table(TABLE4, __doc__, argv)


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
