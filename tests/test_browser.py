"""A real browser: headless Chromium drives `streamlit run app.py`, visits every page, checks that
no error block or exception is shown, and saves a screenshot of each page in screenshots/."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
from explorer.ui.navigation import PAGES as REGISTERED  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# text that appears once a registered page has finished rendering, by its title
READY = {"Overview": "Test error vs depth", "Runs": "Download runs CSV", "Train": "Queue training",
         "Curves": "Download curves CSV", "Gradients": "Download displayed CSV", "Separability": "Download analysis CSV",
         "Mechanisms": "Study", "Verdict": "Every explanation of the degradation problem"}
PAGES = [(p.title, READY.get(p.title, p.title)) for p in REGISTERED]  # a new page: its title, until it names more

LOGS: dict[str, Path] = {}  # server url -> its log file
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(digits_runs, tmp_path):
    yield from _serve(tmp_path, {"EXPLORER_ZOO": str(digits_runs), "EXPLORER_RUNS": str(tmp_path / "own")})


def _serve(tmp_path, paths: dict[str, str]):
    """`streamlit run app.py` on a free port with the given run stores; yields its url, stops it after."""
    port = _free_port()
    env = {**os.environ, **paths}
    # the server's log goes to a file: a pipe nobody reads fills up and stalls the server once it holds 64 KiB
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        log.close()
        pytest.fail("streamlit did not start: " + (tmp_path / "streamlit.log").read_text()[-2000:])
    LOGS[url] = tmp_path / "streamlit.log"
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _log_tail(url: str) -> str:
    return LOGS[url].read_text(errors="replace")[-2000:]


def _idle(page) -> None:
    """Wait until the page's script has finished: Streamlit shows its status widget while a run is going on."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=120_000)


def test_every_page_in_a_real_browser(server):
    pw = pytest.importorskip("playwright.sync_api")
    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server, wait_until="domcontentloaded")
        page.wait_for_selector("h1:has-text('Residual Explorer')", timeout=60_000)
        for link, ready in PAGES:
            # navigate inside the app (one session, so the sidebar's selection stays: resnet8, 2 seeds)
            page.locator("[data-testid='stSidebarNav']").get_by_text(link, exact=True).click()
            if link == "Separability":  # nothing is computed before the button is pressed
                page.get_by_role("button", name="Analyse").first.click(timeout=60_000)
            page.get_by_text(ready).first.wait_for(timeout=120_000)
            page.wait_for_timeout(1000)  # let charts draw
            if link == "Gradients":  # the every-step CSV is built only when asked for
                _idle(page)
                try:
                    with page.expect_download(timeout=120_000) as dl:
                        page.get_by_text("Download every step (CSV)").click()
                except pw.TimeoutError:
                    page.screenshot(path=str(shots / "gradients-no-download.png"), full_page=True)
                    pytest.fail("no download within 120 s; the server's log ends: " + _log_tail(server))
                lines = Path(dl.value.path()).read_text().splitlines()
                assert {"run_id", "stage", "step", "value"} <= set(lines[0].split(",")) and len(lines) > 10, lines[:3]
            page.screenshot(path=str(shots / f"{link.lower()}.png"), full_page=True)
            errors = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
            assert errors.count() == 0, f"{link}: " + " | ".join(errors.all_inner_texts())
        browser.close()


# Every legend of every chart on the page: its title, its entries (label, symbol colour), and the colours of the
# lines drawn (the charts are SVG).
LEGENDS_JS = """() => [...document.querySelectorAll('.vega-embed svg')].map(svg => ({
  legends: [...svg.querySelectorAll('g.role-legend')].map(lg => ({
     title: (lg.querySelector('g.role-legend-title text') || {}).textContent || '',
     entries: [...lg.querySelectorAll('g.role-legend-entry g.role-scope > g')].map(e => [
        (e.querySelector('g.role-legend-label text') || {}).textContent || '',
        (e.querySelector('g.role-legend-symbol path') || {getAttribute: () => null}).getAttribute('stroke')])})),
  lines: [...new Set([...svg.querySelectorAll('g.mark-line path, g.mark-symbol path')]
                 .map(p => p.getAttribute('stroke') || p.getAttribute('fill')))]}))"""
COLOR_LEGENDS = ("condition", "net")  # legend titles of the colour-per-condition legends


def _legends(page) -> dict[str, str]:
    """Label -> colour of the page's condition legends; each legend lists exactly the colours drawn."""
    out = {}
    for chart in page.evaluate(LEGENDS_JS):
        for lg in chart["legends"]:
            if not lg["title"].startswith(COLOR_LEGENDS):
                continue
            colours = {c for _, c in lg["entries"]}
            assert colours <= set(chart["lines"]), f"a legend entry with nothing drawn: {lg}, drawn {chart['lines']}"
            drawn = set(chart["lines"]) - {"black", "#000", "#000000", "gray", "#888", None}
            assert drawn <= colours, f"a series drawn without a legend entry: {drawn - colours} ({lg})"
            out.update(dict(lg["entries"]))
    return out


@pytest.fixture
def walkthrough(digits_runs, tmp_path):
    """The walk-through of issue 30: the shipped zoo, an own digits run, and an akamaster .th to upload."""
    import torch
    from helpers import akamaster_layout, randomized
    own = tmp_path / "own"
    own.mkdir()
    src = next(p for p in sorted(digits_runs.iterdir()) if p.name.startswith("resnet8-s0-"))
    shutil.copytree(src, own / src.name)
    th = tmp_path / "resnet20-12fca82f.th"
    torch.save({"state_dict": akamaster_layout(randomized("resnet20"))}, th)
    for url in _serve(tmp_path, {"EXPLORER_ZOO": str(ROOT / "checkpoints"), "EXPLORER_RUNS": str(own)}):
        yield url, th


def test_walkthrough_labels_colours_and_the_verdict_fit(walkthrough):
    """Zoo + own digits run + an uploaded .th at 1400 px: labels of at most 40 characters, each condition legend
    lists exactly the series drawn, residual + BN has one colour on every page, the Verdict scrolls not sideways."""
    pw = pytest.importorskip("playwright.sync_api")
    url, th = walkthrough
    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                     "--disable-dev-shm-usage"], headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("h1:has-text('Residual Explorer')", timeout=60_000)
        nav = page.locator("[data-testid='stSidebarNav']")
        # upload the .th on the Train page: the data set asked for, "unknown" chosen
        nav.get_by_text("Train", exact=True).click()
        page.get_by_text("Import a model trained elsewhere").click()
        page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(th))
        page.get_by_text("The file's name suggests").wait_for(timeout=60_000)
        for attempt in range(4):  # the upload reruns the page: a list opened meanwhile closes again
            _idle(page)
            page.locator("input[aria-label='Data set it was trained on']").click()
            try:
                page.locator("[role=option]").filter(has_text="unknown").click(timeout=5_000)
                break
            except pw.TimeoutError:
                page.keyboard.press("Escape")
        page.get_by_role("button", name="Import", exact=True).wait_for(timeout=30_000)
        page.get_by_role("button", name="Import", exact=True).click()
        page.get_by_text("Imported as").wait_for(timeout=120_000)
        # every run's name (the Runs page's CSV holds the labels the sidebar lists): at most 40 characters, unique
        nav.get_by_text("Runs", exact=True).click()
        page.get_by_text("Download runs CSV").wait_for(timeout=120_000)
        _idle(page)
        with page.expect_download(timeout=60_000) as dl:
            page.get_by_text("Download runs CSV").click()
        import pandas as pd
        names = pd.read_csv(dl.value.path())["label"].tolist()
        assert len(names) >= 25 and len(set(names)) == len(names), names
        assert all(len(n) <= 40 for n in names), [n for n in names if len(n) > 40]
        assert any("12fca82f.th" in n for n in names) and any(n.startswith("resnet8 ") for n in names), names
        page.screenshot(path=str(shots / "walkthrough-runs.png"))
        colours = {}
        for link, ready in (("Overview", "Download answer table CSV"), ("Curves", "Download curves CSV"),
                            ("Verdict", "Download verdict CSV")):
            nav.get_by_text(link, exact=True).click()
            page.get_by_text(ready).first.wait_for(timeout=240_000)
            _idle(page)
            page.wait_for_timeout(1500)
            page.set_viewport_size({"width": 1400, "height": 3000})  # the whole page in the screenshot
            page.screenshot(path=str(shots / f"walkthrough-{link.lower()}.png"))
            page.set_viewport_size({"width": 1400, "height": 1000})
            errors = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
            assert errors.count() == 0, f"{link}: " + " | ".join(errors.all_inner_texts())
            colours[link] = _legends(page)
            assert all(len(label) <= 40 for label in colours[link]), colours[link]
            wide = page.evaluate("() => [...document.querySelectorAll('[data-testid=stTable], [data-testid=stMain]')]"
                                 ".filter(e => e.scrollWidth > e.clientWidth + 2).length")
            assert wide == 0, f"{link}: something scrolls sideways at 1400 px"
        # residual + BN (FULL) has FULL's hue on both pages (another experiment of it, a 5,000-image subset, a shade)
        from explorer.charts.common import VARIANT_COLORS
        curves = {c for label, c in colours["Curves"].items() if "(FULL)" in label}
        overview = {c for label, c in colours["Overview"].items() if label.startswith("residual + BN")}
        assert curves == {VARIANT_COLORS["FULL"]} and VARIANT_COLORS["FULL"] in overview, colours
        browser.close()
