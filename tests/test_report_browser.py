"""The audit page renders in a real browser (make test-browser): headless chromium loads it from disk, its
DOM holds every drawing, and a screenshot shows the header, the drawings and the charts in their colours.

Needs Debian's chromium (`apt-get install -y chromium`); without it these tests skip and say so. Set
FCN_SCREENSHOT=path.png to keep the screenshot (make test-browser keeps it at results/audit/screenshot.png).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from reproduce.audit import report

pytestmark = pytest.mark.browser

INSTALL = "apt-get install -y chromium"
WIDTH, HEIGHT = 1400, 4200


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(f"chromium is not installed: install it with `{INSTALL}`, then run `make test-browser`")
    return found


def run_chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless chromium with a fresh profile, offline, nothing synced or updated."""
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}):\n{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The report for voc-fcn8s and nyud-fcn32s-color-hha, with a smoke record carrying per-class IU."""
    root = tmp_path_factory.mktemp("report")
    (root / "results" / "smoke").mkdir(parents=True)
    classes = {"background": 71.2, "aeroplane": 44.0, "bicycle": 12.5, "bird": None, "boat": 30.1}
    row = {"method": "FCN-8s", "net": "voc-fcn8s", "status": "released", "verdict": "smoke run: MEANINGLESS",
           "paper": {"pixel_accuracy": 90.3, "mean_accuracy": 75.9, "mean_iu": 62.7, "fw_iu": 83.2},
           "ours": {"pixel_accuracy": 80.0, "mean_accuracy": 41.0, "mean_iu": 39.4, "fw_iu": 65.0},
           "per_class_iu": {"score": classes}}
    (root / "results" / "smoke" / "table2.json").write_text(json.dumps(
        {"table": 2, "title": "Skip FCNs", "smoke": True, "git_revision": "test", "device": "CPU",
         "finished": 0, "rows": [row], "provenance": {}}))
    html, _ = report.write_report(root / "audit", root / "results", names=["voc-fcn8s", "nyud-fcn32s-color-hha"])
    return html


def test_chromium_parses_every_drawing_and_chart(page, tmp_path):
    dom = run_chromium(tmp_path, page, "--dump-dom").stdout
    assert dom.count('<svg class="net"') == 2 and dom.count('<svg class="bars"') == 1
    assert dom.count('<svg class="classes"') == 1 and "SMOKE RUN" in dom


def test_the_screenshot_shows_the_header_the_drawings_and_the_charts(page, tmp_path):
    shot = tmp_path / "shot.png"
    run_chromium(tmp_path, page, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    keep = os.environ.get("FCN_SCREENSHOT")
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep)
    colours = image.getcolors(maxcolors=WIDTH * HEIGHT)
    count = {rgb: n for n, rgb in colours}

    def near(target: tuple[int, int, int], tol: int = 6) -> int:
        return sum(n for rgb, n in count.items() if all(abs(a - b) <= tol for a, b in zip(rgb, target, strict=True)))

    assert near((0x18, 0x32, 0x4F)) > WIDTH * 80  # the header band
    assert near((0x58, 0x80, 0xBA), tol=10) > 2000  # the coarsest trunk stages (stride 32)
    assert near((0xFF, 0xF1, 0xE0)) > 1000  # score layers
    assert near((0xE6, 0xF6, 0xEC)) > 1000  # upsampling layers
    assert near((0x2F, 0x6F, 0xB5)) > 500  # the kit's bars
    assert near((0xFF, 0xF4, 0xD6)) > 5000  # the smoke banner
    top = image.crop((0, 0, WIDTH, 120)).convert("L")
    assert top.getextrema()[0] < 60 and top.getextrema()[1] > 200  # header text on the dark band
