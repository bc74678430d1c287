"""The dashboard opened in headless Chromium (Debian's `chromium`), driven over the DevTools protocol:
no console error, no network request, a non-blank screenshot, one ranking row per trial, sortable headers."""

import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from actot.report import write_dashboard

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


@pytest.fixture
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    profile = tempfile.mkdtemp(prefix="chromium-")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = None
        for line in proc.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..."
            if "DevTools listening on" in line:
                port = int(line.split("127.0.0.1:")[1].split("/")[0])
                break
        assert port, "chromium did not start its DevTools endpoint"
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The smallest DevTools client: send a command, wait for its answer, keep every event seen."""

    def __init__(self, port: int):
        import websocket

        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.events, self.next_id = [], 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv()))

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


def test_dashboard_in_headless_chromium(fixture_dir, browser):
    from PIL import Image

    path = write_dashboard(fixture_dir)
    page = Page(browser)
    for domain in ("Runtime", "Log", "Network", "Page"):
        page.call(f"{domain}.enable")
    page.call("Page.navigate", url=path.resolve().as_uri())
    page.wait_for("Page.loadEventFired")
    # Let plotly finish drawing: poll the page, not the clock.
    # (parallel coordinates, curves, plan mass; no importance chart: the fixture's 3 configs are too few for one)
    for _ in range(200):
        if page.js("document.querySelectorAll('.js-plotly-plot .main-svg').length") >= 3:
            break
        time.sleep(0.1)
    assert page.js("document.querySelectorAll('.js-plotly-plot .main-svg').length") >= 3
    assert page.js("document.querySelectorAll('#ranking tbody tr').length") == 7  # one row per trial
    first_trials = page.js(
        "Array.from(document.querySelectorAll('#ranking tbody tr')).map(r => r.cells[1].textContent)"
    )
    assert first_trials[:3] == ["t3", "t4", "t5"] and first_trials[-1] == "t2"
    page.js("document.querySelectorAll('#ranking th')[1].click()")  # sort by trial id
    assert page.js("document.querySelector('#ranking tbody tr').cells[1].textContent") == "t1"
    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    image = Image.open(io.BytesIO(shot)).convert("L")
    low, high = image.getextrema()
    assert image.size[0] >= 1000 and high - low > 100, "blank screenshot"
    assert sum(1 for count in image.histogram() if count) > 20, "blank screenshot"

    errors = [
        e
        for e in page.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []
    requests = [e["params"]["request"]["url"] for e in page.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests and all(u.startswith(LOCAL_SCHEMES) for u in requests), requests
    page.ws.close()


def test_the_comparison_to_co_training_is_displayed(tmp_path, browser):
    """A sweep with a baseline arm: the page leads with the line, visibly, and the arm has its own unranked rows."""
    from actot.report import load_sweep_dir
    from actot.report.rank import rank
    from sweep_fixture import BEATS, paired_sweep

    folder = paired_sweep(tmp_path / "beats", BEATS)
    path = write_dashboard(folder)
    lead = str(rank(load_sweep_dir(folder)).lead)
    # the search's pick, not yet confirmed on fresh seeds: shown as selected, with the command that confirms it
    assert lead.startswith("not confirmed yet: the search's pick vs co-training +0.12 [0.07697, 0.163] (n=2 seeds")
    page = Page(browser)
    for domain in ("Runtime", "Page"):
        page.call(f"{domain}.enable")
    page.call("Page.navigate", url=path.resolve().as_uri())
    page.wait_for("Page.loadEventFired")
    line = page.js(
        "(function () { var p = document.getElementById('vs-baseline'); var r = p.getBoundingClientRect();"
        " return {text: p.innerText, h: r.height, w: r.width, top: r.top,"
        " table: document.getElementById('ranking').getBoundingClientRect().top,"
        " shown: getComputedStyle(p).display !== 'none' && getComputedStyle(p).visibility !== 'hidden'}; })()"
    )
    assert line["text"] == lead and line["shown"] and line["h"] > 0 and line["w"] > 0
    assert line["top"] < line["table"]  # above the ranking: the first thing read
    cells = page.js(
        "Array.from(document.querySelectorAll('#ranking tbody tr')).map(r => [r.cells[0].textContent,"
        " r.cells[1].textContent])"
    )
    assert cells[:2] == [["-", "co-training seed 3"], ["-", "co-training seed 4"]] and len(cells) == 6
    assert (
        page.js("Array.from(document.querySelectorAll('#ranking th')).map(h => h.textContent)").count("vs baseline")
        == 1
    )
    errors = [e for e in page.events if e.get("method") == "Runtime.exceptionThrown"]
    assert errors == []
    page.ws.close()


def test_every_importance_bar_is_labelled():
    """Two knobs, one without a clear direction: its bar was drawn blank (issue 31); each bar says its value."""
    from actot.report.dashboard import _importance
    from actot.report.importance import Importance

    imp = Importance(8, values={"ot.reg": 0.51, "ot.tau": 0.49}, direction={"ot.reg": "lower did better"}, n_configs=8)
    bar = _importance(imp).data[0]
    assert dict(zip(bar.y, bar.text)) == {"ot.reg": "0.51, lower did better", "ot.tau": "0.49, no clear direction"}
    assert bar.textposition == "outside"
