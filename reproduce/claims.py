"""The claims ledger: every claim of the two FCN papers and of the reference release that the kit implements or
checks, one entry each. Read and checked by ``reproduce.ledger`` (``make audit``).

Sources: CVPR = Long, Shelhamer, Darrell, CVPR 2015 (arXiv 1411.4038 v2, whose numbering the slides use); PAMI =
Shelhamer, Long, Darrell, PAMI 2016 (arXiv 1605.06211); reference = the authors' Caffe release (its net folders'
net.py / solve.py / prototxts, its README, score.py, surgery.py, the *_layers.py data layers). The claims are in
the kit's own words.

Statuses: ``checked`` (a fast-suite test checks it exactly), ``caffe`` (checked against real BVLC Caffe in
``make test-caffe``, usually with golden fixtures in ``make test`` too), ``informational`` (recorded and shown,
nothing to check), ``deviation`` (the kit chose differently or had to choose; the note says what and why),
``not-checkable`` (cannot be checked on this machine; the note says what would check it).
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("checked", "caffe", "informational", "deviation", "not-checkable")
KINDS = ("architecture", "geometry", "initialisation", "training", "data", "metrics", "table", "release", "timing",
         "difference", "device", "format")


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    claim: str
    kind: str
    status: str
    code: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    note: str = ""


CLAIMS: tuple[Claim, ...] = ()
