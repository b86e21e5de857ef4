"""The HTML report in a real headless browser (Debian's chromium): tables parse, figures decode.

A copy of the page gets a small script that, once the page has loaded, writes what the browser
made of it (each image's decoded width, the tables and their rows) into the DOM, which
``--dump-dom`` then prints. A screenshot checks that something was drawn.
"""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from neurosim.reports import report
from test_compare import runs_of
from test_reports import build_run

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                 "(apt-get install chromium; .ci/run installs it)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
PROBE = """<script>window.addEventListener("load", function () {
  var images = Array.from(document.images).map(function (i) {
    return {width: i.complete ? i.naturalWidth : -1, alt: i.alt}; });
  var tables = Array.from(document.querySelectorAll("table")).map(function (t) {
    return {caption: t.caption ? t.caption.textContent : "", rows: t.rows.length,
            text: t.textContent}; });
  var probe = document.createElement("pre");
  probe.id = "render-probe";
  probe.textContent = JSON.stringify({images: images, tables: tables});
  document.body.appendChild(probe);
});</script>"""


def chromium(tmp_path, *args):
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def render(tmp_path, html_path):
    probed = tmp_path / "probed.html"
    probed.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
    result = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom",
                      probed.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<pre id="render-probe">(.*?)</pre>', result.stdout, re.S)
    assert match, "the page did not finish loading"
    text = match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    return json.loads(text.replace("&amp;", "&"))


@pytest.fixture(scope="module")
def run_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    run = build_run(root / "run", "sew")
    report(run)
    return run


def test_report_renders_tables_and_figures(run_report, tmp_path):
    page = render(tmp_path, run_report / "report.html")
    captions = [t["caption"] for t in page["tables"]]
    assert any("Table 3 layout" in c for c in captions)
    energy = next(t for t in page["tables"] if "Table 3 layout" in t["caption"])
    assert energy["rows"] == 1 + 9  # header + Potentials…Total + the ratio row
    for label in ("Potentials", "Weights", "Bias", "In/Out", "Synaptic operations",
                  "Addressing", "Total", "·10"):
        assert label in energy["text"]
    layers = next(t for t in page["tables"] if "Per-layer" in t["caption"])
    assert "block0.sn1" in layers["text"] and "sum1" in layers["text"]
    assert len(page["images"]) == 4
    for image in page["images"]:
        assert image["width"] > 400, image  # decoded from the embedded PNG
    assert any("Figure 10" in i["alt"] for i in page["images"])


def test_report_screenshot_is_drawn(run_report, tmp_path):
    shot = tmp_path / "shot.png"
    result = chromium(tmp_path, "--window-size=1200,3000", f"--screenshot={shot}",
                      (run_report / "report.html").as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(shot) as img:
        pixels = np.asarray(img.convert("RGB"))
    assert pixels.shape[:2] == (3000, 1200)
    # figures put colour on the page: the paper's category blue appears in many pixels
    blue = np.all(np.abs(pixels.astype(int) - (0x4C, 0x72, 0xB0)) < 12, axis=2)
    assert blue.sum() > 5000


def test_comparison_page_renders(run_report, tmp_path):
    from neurosim.reports import compare
    other = build_run(tmp_path / "sparse", "sparse")
    out = tmp_path / "cmp"
    compare.build(runs_of(run_report, other), out)
    page = render(tmp_path, out / "comparison.html")
    assert any("activity side by side" in t["caption"] for t in page["tables"])
    assert page["images"] and all(i["width"] > 400 for i in page["images"])
