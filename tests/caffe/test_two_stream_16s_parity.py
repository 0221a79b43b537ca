"""nyud-fcn16s-color-hha (the paper's FCN-16s RGB-HHA, never released) against real Caffe (make test-caffe).

The whole net (every blob, both loss normalisations, every gradient, kit in float64) is one case of
test_net_parity.py, run with the crop offsets Caffe's coord_map derives, since the reference published none for
this net. Here: Caffe's net-spec coord_map, given the kit's net with placeholder offsets, derives the kit's
offsets 5 (score_pool4c, through the averaged pool4 scores of both streams) and 27 (score).
"""

from __future__ import annotations

import pytest

import nets
import parity
from nets import geometry
from nets.prototxt import deploy_prototxt

pytestmark = pytest.mark.caffe

NAME = "nyud-fcn16s-color-hha"


def test_caffes_coord_map_derives_the_kits_crop_offsets_5_and_27(caffe):
    h, w = parity.INPUT_SIZES[NAME]
    derived = caffe.coord_map_offsets(deploy_prototxt(NAME, h, w, offsets={"score_pool4c": 0, "score": 0}))
    assert derived["crops"] == {"score_pool4c": {"axis": 2, "offset": [5]}, "score": {"axis": 2, "offset": [27]}}
    assert derived["layers"] == len(nets.spec(NAME).layers) + 1  # and the Input layer
    assert parity.caffe_crop_offsets(NAME, caffe, h, w) == geometry.derive_crop_offsets(nets.spec(NAME))
    parity.REPORT.append((NAME, "crop offsets: Caffe coord_map 5, 27 vs kit 5, 27", "score_pool4c, score", 0.0,
                          "exact"))
