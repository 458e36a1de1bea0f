"""The notebooks in a real browser: JupyterLab against the test stack, driven in headless Chromium.

nbval proves the kernels compute the right outputs; this proves a learner *sees* them: the
outputs and the widgets render in JupyterLab's page. Screenshots go to ``artifacts/`` (kept by
CI). Needs Debian's ``chromium`` and the Python ``playwright`` package (the `dev` extra); run
with ``./kit browser``.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from banku.lessons.notebook import reset_notebook
from tests.browser import jupyterlab as lab_tools
from tests.helpers import ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "artifacts"
NOTEBOOKS = ROOT / "notebooks"
PRODUCING = "01_producing_events.ipynb"
TIME_TRAVEL = "03_time_travel_with_pandas.ipynb"


@pytest.fixture(scope="module")
def namespace(base_settings):
    """The kernels' BANKU_NAMESPACE: apart from nbval's run of the same notebooks."""
    name = f"br{uuid.uuid4().hex[:8]}"
    yield name
    for notebook in ("nb01", "nb03"):
        reset_notebook(base_settings.with_namespace(f"{name}-{notebook}"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory, base_settings, namespace):
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=base_settings.bootstrap_servers,
               REDIS_URL=base_settings.redis_url, BANKU_NAMESPACE=namespace)
    env.pop("BANKU_TOPIC", None)
    server = lab_tools.JupyterLab(tmp_path_factory.mktemp("jupyterlab"),
                                  [NOTEBOOKS / PRODUCING, NOTEBOOKS / TIME_TRAVEL], env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(tmp_path, lab):
    """A fresh headless Chromium (new profile) for each notebook."""
    with lab_tools.open_browser(tmp_path / "chromium-profile") as page:
        yield page


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"browser-{Path(name).stem}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, "the screenshot is (nearly) empty"
    return path


def _run_all(page, lab, name: str) -> float:
    """Open the notebook and run all its cells; on failure keep a screenshot of the page."""
    started = time.monotonic()
    try:
        lab_tools.open_notebook(page, lab, name)
        lab_tools.run_all_cells(page, lab, name)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"browser-{Path(name).stem}-failed.png"))
        print(lab.log_tail(30))
        raise
    return time.monotonic() - started


def _error_cells(saved: dict) -> list[str]:
    """Sources of the cells with an error output (a traceback), apart from expected ones."""
    return [
        "".join(cell["source"])[:80]
        for cell in saved["cells"] if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if output["output_type"] == "error"
        and "raises-exception" not in cell.get("metadata", {}).get("tags", [])
    ]


def test_producing_events_runs_and_renders_in_the_browser(page, lab, namespace):
    ran = _run_all(page, lab, PRODUCING)

    texts = "\n".join(lab_tools.outputs(page))
    assert "Refused:" in texts and "Insufficient funds" in texts
    assert "end offsets unchanged: True" in texts
    assert f"topic: {namespace}-nb01.banku-transactions" in texts
    # The refused command of cell "bank.deposit(adam, 12.5)" shows one sentence, no traceback.
    assert "InvalidAmount: The amount must be a whole number" in texts
    assert "Traceback" not in texts
    # The learner's own producer: the broker's answer, the retention the topic was created with.
    assert "Adam's CreateEvent is stored in partition" in texts
    assert "retention.ms   = -1" in texts
    # The picture of the partitions (matplotlib) is an image in the page.
    picture = page.locator(".jp-OutputArea-output img")
    assert picture.count() >= 1 and picture.first.is_visible()
    # The read model as a pandas DataFrame, rendered as an HTML table.
    table = page.locator(".jp-RenderedHTMLCommon table.dataframe").last
    assert table.is_visible()
    cells = table.locator("td").all_inner_texts()
    assert "Adam Pahlevi" in cells and "1400" in cells and "Eve" in cells

    page.get_by_text("end offsets unchanged: True").scroll_into_view_if_needed()
    _screenshot(page, PRODUCING)
    saved = lab_tools.save(page, lab, PRODUCING)
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code)
    assert not _error_cells(saved)
    print(f"\n[browser] {PRODUCING}: opened and ran in {ran:.0f}s")


def test_the_time_slider_widget_renders(page, lab):
    from playwright.sync_api import expect

    ran = _run_all(page, lab, TIME_TRAVEL)

    # ipywidgets rendered the interact box: a slider (with its label and readout) over the
    # table it drives.
    interact = page.locator(".jupyter-widgets.widget-interact").first
    interact.wait_for(state="visible", timeout=30_000)
    slider = interact.locator(".widget-slider").first
    assert slider.is_visible()
    assert slider.locator(".widget-label").inner_text().strip() == "day"
    readout = slider.locator(".widget-readout")
    assert readout.inner_text().strip() == "Mon 16 Feb"
    table = interact.locator("table.dataframe")
    assert table.count() == 1 and len(table.locator("tbody tr").all()) == 10
    assert not page.locator(".jp-OutputArea-output", has_text="Error displaying widget").count()
    assert not page.locator(".jp-OutputArea-output", has_text="Loading widget").count()

    # And it is alive: a step back with the keyboard asks the kernel for another day's table.
    last_day = table.inner_text()
    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowLeft")
    expect(readout).to_have_text("Sun 15 Feb", timeout=30_000)
    expect(table).not_to_have_text(last_day, timeout=60_000)
    slider.scroll_into_view_if_needed()
    _screenshot(page, TIME_TRAVEL)
    saved = lab_tools.save(page, lab, TIME_TRAVEL)
    assert not _error_cells(saved)
    print(f"\n[browser] {TIME_TRAVEL}: opened and ran in {ran:.0f}s")
