"""reproduce.evaluate, predict and infer on miniature datasets in the real on-disk formats, with tiny nets that
carry a reference net's name (so its record's inputs apply) but run in milliseconds."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import data
import nets
import weights
from data import miniature
from reproduce import evaluate, infer
from reproduce.metrics import fast_hist, scores
from reproduce.predict import predict
from tiny_nets import scoring_net

tiny_net = scoring_net  # conv 3x3 + ReLU + 1x1 score, named like a reference net


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc") / "VOC2011"
    return miniature.build_voc(root, n=5, seed=11)


def test_confusion_matrix_accumulates_argmax_against_labels_over_the_split_in_order(voc_root):
    reader = data.load("voc", "val", voc_root, expect_split=None)
    net = tiny_net()
    seen = []
    ev = evaluate.evaluate_reader(net, reader, torch.device("cpu"), progress=False,
                                  on_prediction=lambda i, p: seen.append((i, p["score"])))
    expected = np.zeros((21, 21), np.int64)
    with torch.no_grad():
        for i in range(len(reader)):
            item = reader[i]
            pred = net(torch.from_numpy(item["data"])[None])[0].argmax(0).numpy()
            expected += fast_hist(item["label"], pred, 21)
            np.testing.assert_array_equal(seen[i][1], pred)
    assert [i for i, _ in seen] == list(reader.ids) == ev.ids
    np.testing.assert_array_equal(ev.hists["score"], expected)
    assert ev.summary()["mean_iu"] == scores(expected)["mean_iu"]
    assert len(ev.seconds) == len(reader) and ev.median_seconds > 0
    assert not net.training


def test_scores_table_names_every_class(voc_root):
    reader = data.load("voc", "val", voc_root, expect_split=None)
    ev = evaluate.evaluate_reader(tiny_net(), reader, torch.device("cpu"), progress=False)
    text = evaluate.format_scores(ev, {"score": data.CLASSES[("voc", "label")]})
    assert "mean IU" in text and "aeroplane" in text and "tvmonitor" in text
    assert len([line for line in text.splitlines() if line.startswith("  ") and line.split()[0].isdigit()]) == 21


def test_evaluate_command_writes_pngs_and_a_record_with_hashes(voc_root, tmp_path, monkeypatch, capsys):
    net = tiny_net()
    weights_file = weights.save(net, tmp_path / "tiny.h5")
    monkeypatch.setattr(nets, "build", lambda name: tiny_net(name))
    data_root = voc_root.parent
    rc = evaluate.main(["voc-fcn32s", "--weights", str(weights_file), "--dataset", "voc", "--split", "val",
                        "--data-root", str(data_root), "--save-png", str(tmp_path / "png"),
                        "--json", str(tmp_path / "rec.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "mean IU" in out and "person" in out
    rec = json.loads((tmp_path / "rec.json").read_text())
    reader = data.load("voc", "val", voc_root, expect_split=None)
    import hashlib

    assert rec["weights_sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert rec["split_md5"] == data.splits.set_md5(reader.ids)
    assert rec["images"] == len(reader) and rec["git_revision"] and rec["device"].startswith("CPU")
    assert 0 <= rec["scores"]["score"]["mean_iu"] <= 1
    assert set(rec["scores"]["score"]["per_class_iu"]) == set(data.CLASSES[("voc", "label")])
    pngs = sorted(p.stem for p in (tmp_path / "png").glob("*.png"))
    assert pngs == sorted(reader.ids)
    with Image.open(tmp_path / "png" / f"{reader.ids[0]}.png") as im:
        assert im.mode == "P"


def test_evaluate_command_without_weights_or_data_names_both_make_targets(tmp_path, capsys):
    assert evaluate.main(["voc-fcn8s", "--weights", str(tmp_path / "nope.h5"), "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "make weights NET=voc-fcn8s" in err and "make data DATASET=voc" in err


def test_predict_feeds_the_net_bgr_minus_the_records_mean_at_the_pictures_size(tmp_path):
    """A picture of known pixels reaches the net as the numbers worked out by hand: RGB -> BGR minus the VOC
    mean, channels first, no resizing; HHA for the NYUD net keeps its stored order minus the HHA mean."""
    seen = []
    net = tiny_net()
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    pixels = np.zeros((3, 4, 3), dtype=np.uint8)
    pixels[1, 2] = (10, 20, 30)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    label = predict(net, tmp_path / "p.png")
    voc = np.float32([104.00699, 116.66877, 122.67892])
    assert label.dtype == np.uint8 and label.shape == (3, 4) and seen[0].shape == (1, 3, 3, 4)
    np.testing.assert_array_equal(seen[0][0, :, 1, 2].numpy(), np.float32([30, 20, 10]) - voc)
    np.testing.assert_array_equal(seen[0][0, :, 0, 0].numpy(), -voc)
    with torch.no_grad():
        np.testing.assert_array_equal(label, net(seen[0])[0].argmax(0).numpy())
    hha_net = tiny_net("nyud-fcn32s-hha", classes=40)
    hha_net.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    predict(hha_net, tmp_path / "p.png")
    hha_mean = np.float32([132.431, 94.076, 118.477])
    np.testing.assert_array_equal(seen[-1][0, :, 1, 2].numpy(), np.float32([10, 20, 30]) - hha_mean)
    gray = np.asarray(Image.open(tmp_path / "p.png").convert("L"))  # a grayscale picture is converted
    assert predict(net, gray).shape == gray.shape


def test_predict_needs_every_picture_of_a_two_input_net():
    net = tiny_net("nyud-fcn32s-color-hha", 40, {"color": 3, "hha": 3})
    picture = np.zeros((8, 9, 3), np.uint8)
    with pytest.raises(TypeError, match="mapping"):
        predict(net, picture)
    with pytest.raises(KeyError, match="hha"):
        predict(net, {"color": picture})


def test_infer_writes_a_palette_png_and_an_overlay_per_image(voc_root, tmp_path, monkeypatch):
    weights_file = weights.save(tiny_net(), tmp_path / "tiny.h5")
    monkeypatch.setattr(nets, "build", lambda name: tiny_net(name))
    images = sorted((voc_root / "JPEGImages").glob("*.jpg"))[:2]
    assert infer.main(["voc-fcn32s", "--weights", str(weights_file), *map(str, images), "-o",
                       str(tmp_path / "out")]) == 0
    for image in images:
        with Image.open(tmp_path / "out" / f"{image.stem}.png") as png, Image.open(image) as src:
            assert png.mode == "P" and png.size == src.size
        with Image.open(tmp_path / "out" / f"{image.stem}_overlay.png") as over:
            assert over.mode == "RGB"


def test_a_seg11valid_list_file_in_the_root_pins_the_split(tmp_path):
    """Users and tests pin a split with {root}/{split}.txt; the evaluation then reads exactly those ids."""
    root = miniature.build_voc(tmp_path / "VOC2011", n=4, seed=5)
    ids = data.load("voc", "val", root, expect_split=None).ids[:1]
    (root / "seg11valid.txt").write_text("\n".join(ids) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.SplitMismatchWarning)
        reader = data.load("voc", "seg11valid", root)
    ev = evaluate.evaluate_reader(tiny_net(), reader, torch.device("cpu"), progress=False)
    assert ev.ids == list(ids)


def test_infer_reports_each_bad_image_in_one_line_segments_the_rest_and_exits_1(voc_root, tmp_path, monkeypatch,
                                                                                capsys):
    weights_file = weights.save(tiny_net(), tmp_path / "tiny.h5")
    monkeypatch.setattr(nets, "build", lambda name: tiny_net(name))
    good = sorted((voc_root / "JPEGImages").glob("*.jpg"))[:2]
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not a picture\n")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good[0].read_bytes()[:300])  # a JPEG whose download broke off
    floats = tmp_path / "floats.tif"
    Image.fromarray(np.ones((6, 5), np.float32)).save(floats)  # readable, but no 0..255 range to feed
    images = [good[0], not_image, cut, floats, good[1]]
    out = tmp_path / "out"
    assert infer.main(["voc-fcn32s", "--weights", str(weights_file), *map(str, images), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[0].startswith(f"{not_image}: skipped: cannot read {not_image} as a picture (cannot identify image")
    assert err[1].startswith(f"{cut}: skipped: cannot read {cut} as a picture (") and "runcated" in err[1]
    assert all(line.endswith("expected a complete JPEG or PNG file") for line in err[:2])
    assert err[2].startswith(f"{floats}: skipped: cannot feed it to voc-fcn32s: a floating-point (mode F) image")
    assert err[3] == f"3 of 5 image(s) failed: {not_image}, {cut}, {floats}" and len(err) == 4
    # The images before and after the bad ones were segmented.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{g.stem}{s}.png" for g in good for s in ("", "_overlay"))


def test_infer_with_another_nets_weights_is_one_clear_error_before_any_image(voc_root, tmp_path, monkeypatch,
                                                                              capsys):
    other = weights.save(tiny_net("nyud-fcn32s-color", classes=40), tmp_path / "nyud.h5")
    monkeypatch.setattr(nets, "build", lambda name: tiny_net(name))
    image = sorted((voc_root / "JPEGImages").glob("*.jpg"))[0]
    out = tmp_path / "out"
    assert infer.main(["voc-fcn32s", "--weights", str(other), str(image), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: cannot segment with {other}: weights nyud.h5 do not fit net "
                                   "voc-fcn32s:")
    assert "score blob 0 (weight): net expects (21, 4, 1, 1), file has (40, 4, 1, 1)" in captured.err
    assert "Traceback" not in captured.err and captured.out == "" and not out.exists()
    # Not weights at all: the same single error.
    assert infer.main(["voc-fcn32s", "--weights", str(image), str(image), "-o", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot segment with {image}: {image.name} is not a "
                                              "caffemodel")
