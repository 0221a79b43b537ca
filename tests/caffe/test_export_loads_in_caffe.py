"""The kit's caffemodel export (python -m weights.convert SRC DST.caffemodel) loads into
real Caffe (make test-caffe): Caffe reads the file into the reference's deploy net and holds every parameter
blob bit for bit as the kit had it."""

from __future__ import annotations

import numpy as np
import pytest

import nets
import weights
from nets.prototxt import deploy_prototxt
from parity import load_params, random_params
from weights.export import export

pytestmark = pytest.mark.caffe


# The at-once net's Scale blobs, FCN-AlexNet's grouped convolutions, SIFT Flow's two heads.
@pytest.mark.parametrize("name", ["voc-fcn8s-atonce", "voc-fcn-alexnet", "siftflow-fcn16s"])
def test_caffe_loads_the_kits_caffemodel_export_bit_for_bit(caffe, tmp_path, name):
    net = load_params(nets.build(name), random_params(name, seed=11))
    src = weights.save(net, tmp_path / f"{name}.h5")
    model = export(name, src, tmp_path / f"{name}.caffemodel", "caffemodel", log=None)
    src.unlink()
    held = caffe.dump_caffemodel(deploy_prototxt(name, 64, 64), model)
    ours = {layer: [t.detach().numpy() for t in ts] for layer, ts in weights.loader.net_blobs(net).items()}
    assert sorted(held) == sorted(ours)
    for layer, blobs in ours.items():
        assert len(held[layer]) == len(blobs), layer
        for i, (mine, caffes) in enumerate(zip(blobs, held[layer], strict=True)):
            assert caffes.shape == mine.shape, (layer, i, caffes.shape, mine.shape)
            assert np.array_equal(caffes.view(np.uint32), mine.view(np.uint32)), (layer, i)
    model.unlink()
