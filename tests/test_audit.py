"""The offline audit (make audit) passes on the reference nets and fails on a net that differs from them."""

from __future__ import annotations

import pytest

from nets import geometry
from reproduce.audit import geometry as audit


def test_audit_passes_and_prints_derived_beside_reference_offsets(capsys):
    assert audit.main(["voc-fcn8s", "voc-fcn-alexnet", "--size", "500"]) == 0
    out = capsys.readouterr().out
    assert "score_pool3c  9        9          ok" in out and "score  18       18         ok" in out
    assert "8 conv layers, 57.0M parameters with a 21-class score_fr, receptive field 355, stride 32" in out
    assert "paper Table 1 FCN-AlexNet (record voc-fcn-alexnet): conv_layers 8, params_millions 57, rf_size 355" in out
    assert "audit passed" in out


def test_audit_reports_an_output_that_is_not_the_input_size(monkeypatch):
    real = geometry.blob_sizes

    def one_row_short(spec, h, w):
        return {**real(spec, h, w), "score": (h - 1, w)}

    monkeypatch.setattr(geometry, "blob_sizes", one_row_short)
    _, problems = audit.audit_net("voc-fcn32s", 500)
    assert problems == ["voc-fcn32s: output score is (499, 500) for a 500x500 input"]
    assert audit.main(["voc-fcn32s"]) == 1


def test_unknown_net_is_rejected_with_the_valid_names(capsys):
    with pytest.raises(SystemExit):
        audit.main(["voc-fcn4s"])
    err = capsys.readouterr().err
    assert "unknown net 'voc-fcn4s'; did you mean voc-fcn8s" in err and "The kit's nets are: voc-fcn32s" in err
