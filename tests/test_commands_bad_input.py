"""Bad input to the commands people run first (reproduce.infer, evaluate, the tables, benchmarks.inference, the writers
of files the user names): each case is one message saying what was expected, what was found and what to do, no
traceback, and nothing the user had is lost (file bytes unchanged, inputs intact)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nets
import weights
from benchmarks import conversion as conversion_bench
from benchmarks import inference as bench
from benchmarks import loader as loader_bench
from nets.precision import UnavailableDevice, check_device
from nets.prototxt import writer as prototxt_cli
from nets.tiling import format_bytes
from reproduce import evaluate, infer, options
from reproduce.audit import ledger
from tiny_nets import scoring_net
from weights import transplant as transplant_cli


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Weights of a tiny net named voc-fcn32s, which nets.build then returns (milliseconds per picture)."""
    monkeypatch.setattr(nets, "build", lambda name: scoring_net(name))
    return weights.save(scoring_net(), tmp_path / "tiny.h5")


def picture(path, seed: int = 0, size=(7, 5)):
    """A small RGB picture (PNG or JPEG by suffix) and its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path.read_bytes()


def snapshot(folder) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what a refusal must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error(capsys) -> str:
    """What the command said on stderr, which carries no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ---- infer: outputs never overwrite inputs or each other ------------------------------------------------


def test_infer_refuses_an_output_folder_where_a_mask_would_replace_an_input_picture(tiny, tmp_path, capsys):
    pics = tmp_path / "pics"
    picture(pics / "a.png")
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as stop:
        infer.main(["voc-fcn32s", "--weights", str(tiny), str(pics / "a.png"), "-o", str(pics), "--force"])
    assert stop.value.code == 2
    err = one_error(capsys)
    assert f"the output file(s) {pics / 'a.png'} would be written over inputs of this run, which are kept" in err
    assert "name an -o folder that holds none of the inputs" in err
    assert snapshot(tmp_path) == before


def test_infer_names_inputs_sharing_a_stem_by_their_path_so_that_no_output_replaces_another(tiny, tmp_path,
                                                                                            capsys):
    images = [tmp_path / "d1" / "x.jpg", tmp_path / "d2" / "x.jpg", tmp_path / "d1" / "x.png"]
    for seed, image in enumerate(images):
        picture(image, seed)
    inputs = snapshot(tmp_path)
    out = tmp_path / "out"
    assert infer.main(["voc-fcn32s", "--weights", str(tiny), *map(str, images), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}{kind}.png" for stem in ("d1_x_jpg", "d2_x_jpg", "d1_x_png") for kind in ("", "_overlay"))
    said = capsys.readouterr().out
    assert "x.jpg: d1_x_jpg.png, d1_x_jpg_overlay.png" in said and "x.png: d1_x_png.png" in said
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("out")} == inputs


def test_output_stems_keep_plain_stems_and_refuse_a_picture_given_twice(tmp_path):
    assert infer.output_stems([tmp_path / "a.jpg", tmp_path / "b" / "c.png"]) == ["a", "c"]
    with pytest.raises(ValueError, match="given more than once: .*a.jpg; give each picture once"):
        infer.output_stems([tmp_path / "a.jpg", tmp_path / "." / "a.jpg"])
    with pytest.raises(ValueError, match="would write files of the same name in the output folder"):
        infer.output_stems([tmp_path / "d1" / "x.jpg", tmp_path / "d2" / "x.jpg", tmp_path / "d1_x_jpg.png"])


def test_infer_refuses_two_images_whose_files_collide_before_writing_any(tiny, tmp_path, capsys):
    """a.png's overlay is a_overlay.png, which is also the mask of the picture a_overlay.jpg."""
    images = [tmp_path / "a.png", tmp_path / "a_overlay.jpg"]
    for image in images:
        picture(image)
    with pytest.raises(SystemExit) as stop:
        infer.main(["voc-fcn32s", "--weights", str(tiny), *map(str, images), "-o", str(tmp_path / "out")])
    assert stop.value.code == 2
    assert "two images would both write" in one_error(capsys) and not (tmp_path / "out").exists()


def test_infer_with_o_naming_an_existing_file_is_one_error_and_the_file_is_kept(tiny, tmp_path, capsys):
    picture(tmp_path / "a.png")
    taken = tmp_path / "masks"
    taken.write_text("my notes\n")
    with pytest.raises(SystemExit) as stop:
        infer.main(["voc-fcn32s", "--weights", str(tiny), str(tmp_path / "a.png"), "-o", str(taken)])
    assert stop.value.code == 2
    assert f"-o {taken} is a file; -o names the folder the masks go to (the file is kept)" in one_error(capsys)
    assert taken.read_text() == "my notes\n"


def test_infer_keeps_an_existing_output_file_unless_force(tiny, tmp_path, capsys):
    picture(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_overlay.png").write_bytes(b"the user's own file")
    argv = ["voc-fcn32s", "--weights", str(tiny), str(tmp_path / "a.png"), "-o", str(out)]
    with pytest.raises(SystemExit) as stop:
        infer.main(argv)
    assert stop.value.code == 2
    err = one_error(capsys)
    assert f"1 output file(s) exist already and are kept: {out / 'a_overlay.png'}; pass --force" in err
    assert snapshot(out) == {"a_overlay.png": b"the user's own file"}  # a.png was not written either
    assert infer.main([*argv, "--force"]) == 0
    with Image.open(out / "a_overlay.png") as over:
        assert over.mode == "RGB"


def test_infer_calls_a_folder_given_as_a_picture_a_folder(tiny, tmp_path, capsys):
    (tmp_path / "pics").mkdir()
    with pytest.raises(SystemExit) as stop:
        infer.main(["voc-fcn32s", "--weights", str(tiny), str(tmp_path / "pics"), "-o", str(tmp_path / "out")])
    assert stop.value.code == 2
    err = one_error(capsys)
    assert f"{tmp_path / 'pics'}: a folder, not a file; give the pictures" in err and "no such file" not in err


def test_infer_with_weights_holding_nan_stops_before_any_picture(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nets, "build", lambda name: scoring_net(name))
    net = scoring_net()
    with torch.no_grad():
        net.score.weight[0, 0] = float("nan")
    bad = weights.save(net, tmp_path / "diverged.h5")  # a diverged run's snapshot is written as it is
    picture(tmp_path / "a.png")
    out = tmp_path / "out"
    assert infer.main(["voc-fcn32s", "--weights", str(bad), str(tmp_path / "a.png"), "-o", str(out)]) == 2
    err = one_error(capsys)
    assert err.startswith(f"error: cannot segment with {bad}: ")
    assert "1 layer(s) hold values that are not finite: score (1 NaN, 0 infinite, of 105 values)" in err
    assert "a training run that diverged" in err and not out.exists()


def test_infer_with_a_cut_h5_says_it_is_cut_and_to_fetch_it_again(tiny, tmp_path, capsys):
    cut = tmp_path / "cut.h5"
    cut.write_bytes(tiny.read_bytes()[: tiny.stat().st_size // 2])
    picture(tmp_path / "a.png")
    assert infer.main(["voc-fcn32s", "--weights", str(cut), str(tmp_path / "a.png"), "-o",
                       str(tmp_path / "out")]) == 2
    err = one_error(capsys)
    assert f"{cut} is cut: the weights file holds {cut.stat().st_size} of its {tiny.stat().st_size} bytes" in err
    assert "fetch or copy it again" in err and "Unable to synchronously open" not in err


# ---- --device: one check for every entry point -------------------------------------------------------------

def absent_devices() -> list[str]:
    """Devices that are unknown or not on this machine, whatever it has."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["gpu", "mps", "tpu", f"cuda:{gpus}", *([] if gpus else ["cuda"])]


@pytest.mark.parametrize("device", absent_devices())
def test_a_device_that_is_not_here_is_one_line_naming_the_devices_here(device, tiny, tmp_path, capsys):
    with pytest.raises(UnavailableDevice, match=r"; the devices here: cpu"):
        check_device(device)
    picture(tmp_path / "a.png")
    entry_points = {
        "infer": lambda: infer.main(["voc-fcn32s", "--weights", str(tiny), str(tmp_path / "a.png"), "-o",
                                     str(tmp_path / "out"), "--device", device]),
        "evaluate": lambda: evaluate.main(["voc-fcn32s", "--device", device]),
        "train, tables": lambda: options.add_common(__import__("argparse").ArgumentParser()).parse_args(
            ["--device", device]),
    }
    for name, run in entry_points.items():
        with pytest.raises(SystemExit) as stop:
            run()
        assert stop.value.code == 2, name
        err = one_error(capsys).strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: --device {device}: ") and "devices here: cpu" in err[0]
    with pytest.raises(SystemExit, match=f"benchmarks.inference: --device: .*{device}.*the devices here: cpu"):
        bench.main(["voc-fcn8s", "--device", device])
    assert not (tmp_path / "out").exists()


def test_the_device_check_says_why_in_the_words_people_use():
    with pytest.raises(UnavailableDevice, match="unknown device 'gpu': torch calls a GPU 'cuda'"):
        check_device("gpu")
    with pytest.raises(UnavailableDevice, match="'mps' is not one the kit runs on"):
        check_device("mps")
    if not torch.cuda.is_available():
        with pytest.raises(UnavailableDevice, match="'cuda' is not available: "):
            check_device("cuda")
    assert check_device("cpu") == torch.device("cpu") and check_device(None).type in ("cpu", "cuda")


# ---- net names --------------------------------------------------------------------------------------------


def test_a_misspelled_net_name_gets_the_closest_names_and_the_hub_spelling_is_the_net(tmp_path, capsys):
    assert nets.record("voc_fcn8s").name == "voc-fcn8s" and nets.spec("VOC_FCN8S").name == "voc-fcn8s"
    with pytest.raises(KeyError, match="unknown net 'voc-fcn8'; did you mean voc-fcn8s"):
        nets.record("voc-fcn8")
    assert infer.build_parser().parse_args(["voc_fcn8s", "--weights", "w.h5", "a.png", "-o", "o"]).net == \
        "voc-fcn8s"
    for parse in (lambda: infer.build_parser().parse_args(["voc-fcn8", "--weights", "w.h5", "a.png", "-o", "o"]),
                  lambda: evaluate.parse_args(["voc-fcn8"]),
                  lambda: prototxt_cli.main(["voc-fcn8"])):
        with pytest.raises(SystemExit) as stop:
            parse()
        assert stop.value.code == 2
        assert "unknown net 'voc-fcn8'; did you mean voc-fcn8s" in one_error(capsys)
    with pytest.raises(SystemExit, match="benchmarks.inference: unknown net 'voc-fcn8'; did you mean voc-fcn8s"):
        bench.main(["voc-fcn8", "--device", "cpu"])


# ---- files the user names: kept unless --force ------------------------------------------------------------


def test_evaluate_json_onto_an_existing_file_is_refused_before_any_image(tmp_path, capsys):
    record = tmp_path / "mine.json"
    record.write_text(json.dumps({"mine": True}))
    assert evaluate.main(["voc-fcn32s", "--json", str(record)]) == 2
    err = one_error(capsys)
    assert err.startswith(f"error: --json: {record} exists already and is kept: pass --force to replace it")
    assert json.loads(record.read_text()) == {"mine": True}


def test_prototxt_transplant_and_bench_keep_an_existing_output_unless_force(tmp_path, capsys):
    mine = tmp_path / "mine.prototxt"
    mine.write_text("mine\n")
    with pytest.raises(SystemExit) as stop:
        prototxt_cli.main(["voc-fcn8s", "-o", str(mine)])
    assert stop.value.code == 2 and "exists already and is kept: pass --force" in one_error(capsys)
    assert mine.read_text() == "mine\n"
    assert prototxt_cli.main(["voc-fcn8s", "-o", str(mine), "--force"]) == 0
    assert mine.read_text().startswith("name: ")

    src = weights.save(scoring_net(), tmp_path / "src.h5")
    out = tmp_path / "init.h5"
    out.write_bytes(b"mine")
    assert transplant_cli.main(["--net", "voc-fcn32s", "--out", str(out), str(src)]) == 1
    assert "exists already and is kept: pass --force" in one_error(capsys) and out.read_bytes() == b"mine"
    assert transplant_cli.main(["--net", "voc-fcn32s", "--out", str(src), str(src)]) == 1
    assert "is one of the sources, which is kept" in one_error(capsys)

    with pytest.raises(SystemExit, match="benchmarks.inference: --json: .*exists already and is kept: pass --force"):
        bench.main(["voc-fcn8s", "--device", "cpu", "--json", str(out)])
    assert out.read_bytes() == b"mine"
    for cli, args in ((loader_bench, []), (conversion_bench, []), (ledger, [])):
        name = cli.__name__
        with pytest.raises(SystemExit, match=f"{name}: --json: .*exists already and is kept: pass --force"):
            cli.main([*args, "--json", str(out)])
        assert out.read_bytes() == b"mine", name


def test_a_tables_nets_and_weights_keys_take_the_hub_spelling_and_suggest_the_closest_row():
    import argparse

    from reproduce import runner
    from reproduce.tables import TABLE2

    def ctx(nets_=None, weights_=()):
        args = argparse.Namespace(smoke=False, limit=None, retrained=False, weights=list(weights_), nets=nets_)
        return runner.Context(TABLE2, args)

    hub = ctx(["voc_fcn8s"], ["voc_fcn32s:fixed=w.h5"])
    assert [r.key for r in runner.evaluated_rows(hub) if r.key] and hub.args.nets == ["voc-fcn8s"]
    assert list(runner.weights_overrides(hub.args)) == ["voc-fcn32s:fixed"]
    with pytest.raises(SystemExit, match=r"--nets \['voc-fcn8'\] name no row of Table 2; did you mean voc-fcn8s"):
        runner.evaluated_rows(ctx(["voc-fcn8"]))


# ---- OS errors and hostile pictures (issue 29) -----------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    from mounts import read_only_folder

    yield from read_only_folder(tmp_path, monkeypatch)


def test_infer_with_o_below_a_file_or_read_only_is_one_error_before_any_forward(tiny, tmp_path, read_only,
                                                                              capsys, monkeypatch):
    picture(tmp_path / "a.png")
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    forwards = []
    monkeypatch.setattr(infer, "predict", lambda *a, **k: forwards.append(1))
    for out, said in ((notes / "masks", f"-o {notes} is a file, not a folder, so nothing can be written below it"),
                      (read_only / "masks", f"-o {read_only / 'masks'}: cannot write in {read_only} (Read-only "
                                            "file system)")):
        with pytest.raises(SystemExit) as stop:
            infer.main(["voc-fcn32s", "--weights", str(tiny), str(tmp_path / "a.png"), "-o", str(out)])
        assert stop.value.code == 2 and said in one_error(capsys)
    assert forwards == [] and notes.read_text() == "mine\n"


@pytest.mark.parametrize("what", ["fifo", "/dev/zero"])
def test_a_fifo_or_a_device_given_as_a_picture_or_weights_is_not_a_regular_file(tiny, tmp_path, what, capsys):
    if what == "fifo":
        odd = tmp_path / "pipe.png"
        os.mkfifo(odd)
        kind = "a FIFO (named pipe)"
    else:
        odd, kind = Path(what), "a character device"
    picture(tmp_path / "a.png")
    for argv in (["--weights", str(tiny), str(odd)], ["--weights", str(odd), str(tmp_path / "a.png")]):
        with pytest.raises(SystemExit) as stop:
            infer.main(["voc-fcn32s", *argv, "-o", str(tmp_path / "out")])
        err = one_error(capsys)
        assert stop.value.code == 2 and f"{odd} is {kind}, not a regular file" in err and "no such file" not in err
    with pytest.raises(FileNotFoundError, match=f"{odd} is {re.escape(kind)}, not a regular file"):
        weights.read_weights(odd)


def png_header(path, width: int, height: int):
    """A PNG that says it is ``width`` x ``height`` (its IHDR chunk) and holds no pixels: what a picture's size
    is told from before anything is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def test_infer_skips_a_picture_past_the_pixel_limit_in_one_line_and_segments_the_others(tiny, tmp_path, capsys):
    """A 20,000 x 20,000 PNG (400 million pixels) is past PIL's decompression-bomb limit; --max-pixels raises the
    limit knowingly (here shown on a small picture and a low limit)."""
    bomb = png_header(tmp_path / "bomb.png", 20_000, 20_000)
    picture(tmp_path / "a.png")
    out = tmp_path / "out"
    assert infer.main(["voc-fcn32s", "--weights", str(tiny), str(bomb), str(tmp_path / "a.png"), "-o",
                       str(out)]) == 1
    err = one_error(capsys).strip().splitlines()
    assert err[0] == (f"{bomb}: skipped: too large: 20000 x 20000 = 400,000,000 pixels, more than the limit of "
                      "178,956,970 (a guard against decompression bombs); if the picture is what you meant, pass "
                      "--max-pixels 400000000 to segment it")
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a_overlay.png"]
    argv = ["voc-fcn32s", "--weights", str(tiny), str(tmp_path / "a.png"), "-o", str(tmp_path / "o2")]
    assert infer.main([*argv, "--max-pixels", "34"]) == 1  # 7 x 5 = 35 pixels
    assert "more than the limit of 34" in one_error(capsys)
    assert infer.main([*argv, "--max-pixels", "35"]) == 0


def test_infer_says_the_first_frame_of_a_multi_frame_picture_was_used(tiny, tmp_path, capsys):
    gif = tmp_path / "moving.gif"
    frames = [Image.new("RGB", (7, 5), colour) for colour in ("red", "green", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    assert infer.main(["voc-fcn32s", "--weights", str(tiny), str(gif), "-o", str(tmp_path / "out")]) == 0
    assert "moving.gif: the first of its 3 frames was used" in capsys.readouterr().out


def test_infer_refuses_a_max_memory_below_the_nets_weights_and_smallest_tile_before_any_picture(tiny, tmp_path,
                                                                                              capsys):
    picture(tmp_path / "a.png")
    picture(tmp_path / "b.png", seed=1)
    least = infer.least_memory(scoring_net())
    assert infer.main(["voc-fcn32s", "--weights", str(tiny), str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o",
                       str(tmp_path / "out"), "--max-memory", "1KB"]) == 2
    err = one_error(capsys).strip().splitlines()
    assert err == [f"error: --max-memory 1000 B is below what one tile of voc-fcn32s takes: its weights and its "
                   f"smallest tile need {format_bytes(least)}; give --max-memory {-(-least // 2**20)}MiB or more"]
    assert not (tmp_path / "out").exists()  # one line, not one per picture


def test_evaluate_on_a_cut_jpeg_or_a_label_of_another_size_is_one_message(tiny, tmp_path, capsys):
    from data import miniature

    root = tmp_path / "data"
    voc = miniature.build_voc(root / "VOC2011", n=2, size=(8, 8))
    ids = (voc / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    image = voc / "JPEGImages" / f"{ids[0]}.jpg"
    argv = ["voc-fcn32s", "--weights", str(tiny), "--data-root", str(root), "--split", "val", "--dataset", "voc"]
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 3])
    assert evaluate.main(argv) == 1
    err = one_error(capsys).strip().splitlines()[-1]  # after the progress bar
    assert err.startswith("error: cannot evaluate voc-fcn32s on voc val: ") and str(image) in err
    assert "Nothing was scored" in err
    picture(image, size=(8, 8))
    label = voc / "SegmentationClass" / f"{ids[0]}.png"
    Image.new("P", (5, 5)).save(label)
    assert evaluate.main(argv) == 1
    err = one_error(capsys).strip().splitlines()[-1]
    assert err.startswith("error: cannot evaluate") and "sizes (H x W) differ" in err and ids[0] in err


# ---- the kit's names: a folder called weights/ or data/ where a command runs ----------------------------------


def test_a_plain_folder_named_as_a_kit_package_does_not_disturb_a_command_run_beside_it(tmp_path):
    """Empty nets/, weights/ and data/ folders (checkpoints, datasets) in the working folder: the kit's packages
    come first (make setup installs the checkout on the path), so the command runs as anywhere else; with the
    default editable install they were imported as namespace packages, and nets.spec was missing."""
    import subprocess
    import sys

    for name in ("nets", "weights", "data"):
        (tmp_path / name).mkdir()
    done = subprocess.run([sys.executable, "-m", "nets.prototxt", "voc-fcn8s", "-o", "deploy.prototxt"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "deploy.prototxt").read_text().startswith("name: ")


def test_a_real_package_named_as_a_kit_package_is_one_line_saying_what_shadows_what(tmp_path):
    import subprocess
    import sys

    from data.shadowing import KIT_ROOT

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "__init__.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\n")
    done = subprocess.run([sys.executable, "-m", "reproduce.infer", "voc-fcn8s", "--weights", "w.h5", "a.png", "-o",
                           "out"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'weights'} shadows the kit's weights package ({KIT_ROOT / 'weights'}). Python imports "
        "a package from the working folder first: run the command from another folder (or rename that package)"]
    assert not (tmp_path / "ran").exists()  # the user's package was found, never run


# ---- trying infer without a release ---------------------------------------------------------------------------


def test_infer_with_random_weights_runs_and_stamps_every_output_meaningless(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nets, "build", lambda name: scoring_net(name))
    picture(tmp_path / "a.png")
    out = tmp_path / "out"
    assert infer.main(["voc-fcn32s", "--random-weights", "0", str(tmp_path / "a.png"), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "MEANINGLESS: voc-fcn32s with random weights (seed 0), not a segmentation" in said
    assert "a.png: a.png, a_overlay.png (classes" in said and said.rstrip().endswith("MEANINGLESS")
    for name in ("a.png", "a_overlay.png"):
        with Image.open(out / name) as written:
            assert written.text["Comment"].startswith("MEANINGLESS: voc-fcn32s with random weights (seed 0)")
    with pytest.raises(SystemExit):  # a weights file or random weights, not both
        infer.main(["voc-fcn32s", "--random-weights", "0", "--weights", "w.h5", str(tmp_path / "a.png"), "-o",
                    str(tmp_path / "o2")])
    assert "not allowed with argument" in one_error(capsys)


def test_a_vgg_nets_weights_file_is_about_540_mb_as_the_docs_say():
    """Computed from the parameter count (float32, 4 bytes each), not measured on a written file."""
    import math

    count = sum(math.prod(s) for shapes in nets.spec("voc-fcn8s").param_shapes().values() for s in shapes)
    assert 530e6 < 4 * count < 550e6


def test_a_smoke_run_given_another_nets_weights_says_so(tmp_path, monkeypatch, capsys):
    """voc-fcn32s's layers given as voc-fcn8s's weights to a smoke run (which itself uses random weights): named
    as another net's, as a real run would refuse them; the right net's file is said to be unused. The files'
    layers are zero-stride arrays of the nets' shapes (no 500 MB written)."""
    from reproduce import runner
    from weights.caffemodel import CaffeLayer, CaffeModel

    def layers_of(net):
        return CaffeModel(tuple(CaffeLayer(name, "Convolution", tuple(np.broadcast_to(np.float32(0), s)
                                                                      for s in shapes))
                                for name, shapes in nets.spec(net).param_shapes().items()), "hdf5")

    monkeypatch.setattr(weights, "read_weights", lambda path: layers_of(Path(path).stem))
    with pytest.raises(SystemExit, match=re.escape(f"--weights voc-fcn8s={tmp_path / 'voc-fcn32s.h5'}: the file "
                                                   "holds the weights of voc-fcn32s, not voc-fcn8s's; a real run "
                                                   "would refuse it")):
        runner.check_smoke_weights("voc-fcn8s", tmp_path / "voc-fcn32s.h5")
    runner.check_smoke_weights("voc-fcn8s", tmp_path / "voc-fcn8s.h5")
    assert f"smoke run: random weights; {tmp_path / 'voc-fcn8s.h5'} fits voc-fcn8s but is not used" in \
        capsys.readouterr().out
