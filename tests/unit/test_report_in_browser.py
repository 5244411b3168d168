"""The backtest's HTML report in a real browser (Debian's chromium, headless): the charts are
drawn, the page's script runs and logs no error, and it needs no network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from leadstream.backtest.compare import compare
from leadstream.backtest.generate import generate_log
from leadstream.backtest.partition import replay_log
from leadstream.backtest.render import render_html
from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_model
from leadstream.config.settings import HygieneSettings
from leadstream.core.model import ModelSet

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CANDIDATE = Path(DEFAULT_MODEL_PATH).parent / "examples" / "stricter-mql.yaml"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("LEADSTREAM_REQUIRE_BROWSER"),
    reason="chromium is not installed (./dev test installs Debian's package)")


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None, "chromium is required here (LEADSTREAM_REQUIRE_BROWSER)"
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0",
         # no network: a report that fetched anything would fail to draw
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         "--virtual-time-budget=3000", *args],
        capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    models = [ModelSet.of(load_model()), ModelSet.of(load_model(CANDIDATE))]
    log = tmp / "log.jsonl"
    generate_log(log, models[0], people=300, touchpoints=3000, days=45)
    result = replay_log([log], models, HygieneSettings(), 65536)
    run = {"records": result.records, "applied": result.applied,
           "input_rejected": result.input_rejected, "outside_window": result.outside_window,
           "seconds": result.seconds, "workers": 1, "ticks": True}
    path = tmp / "report.html"
    path.write_text(render_html(compare(result.outcomes, result.verdicts), run), encoding="utf-8")
    return path


def test_the_charts_are_drawn_and_the_page_logs_no_error(report: Path) -> None:
    done = _chromium("--dump-dom", report.as_uri(), tmp=report.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body is not None, done.stdout[:500]
    assert 'data-ready="yes"' in body.group(1), "the page's script did not run to its end"
    charts = int(re.search(r'data-charts="(\d+)"', body.group(1)).group(1))  # type: ignore[union-attr]
    assert charts >= 5, f"{charts} charts drawn"
    errors = [line for line in done.stderr.splitlines()
              if "CONSOLE" in line and ("Uncaught" in line or ":ERROR:" in line)]
    assert errors == []


def test_a_screenshot_shows_the_report(report: Path) -> None:
    shot = report.parent / "report.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1280,2200", "--hide-scrollbars",
                     report.as_uri(), tmp=report.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000  # not a blank page
    if os.environ.get("LEADSTREAM_UPDATE_SCREENSHOT"):  # docs/backtest-report.png
        target = Path(__file__).parents[2] / "docs" / "backtest-report.png"
        target.write_bytes(data)
