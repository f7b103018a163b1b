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
    port = _free_port()
    env = {**os.environ, "EXPLORER_ZOO": str(digits_runs), "EXPLORER_RUNS": str(tmp_path / "own")}
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
