"""JupyterLab and a headless Chromium, for the real-browser check of the notebooks.

`JupyterLab` starts ``jupyter lab`` on a free port with a random token, on a copy of the notebooks
(so a run in the browser never writes outputs into the committed ones), with settings of its own:
no autosave, no news, every cell kept in the page. `open_browser` starts Debian's ``chromium``
headless through Playwright (never Playwright's own browser download).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

# JupyterLab user settings for the check: the notebook is never saved behind our back, no
# pop-up asks about news or updates, and every cell stays in the page (not only the visible
# ones), so the page's text holds every output.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


MAC_BROWSERS = ["/Applications/Chromium.app/Contents/MacOS/Chromium",
                "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"]


def chromium_path() -> str:
    """$BANKU_CHROMIUM (``./kit`` sets it), Debian's ``chromium``, Ubuntu's
    ``chromium-browser``, or the macOS app."""
    found = os.environ.get("BANKU_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser") \
        or next((p for p in MAC_BROWSERS if os.access(p, os.X_OK)), None)
    if not found:
        raise RuntimeError("chromium is not installed: sudo apt-get install -y chromium"
                           " (or set BANKU_CHROMIUM to a Chromium binary)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """``jupyter lab`` on a copy of some notebooks; the kernels get ``env``."""

    def __init__(self, workdir: Path, notebooks: list[Path], env: dict[str, str]) -> None:
        self.root = workdir / "notebooks"
        self.root.mkdir(parents=True)
        for notebook in notebooks:
            self._copy_without_outputs(notebook)
        settings_dir = workdir / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.env = dict(env, JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
                        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "lab-workspaces"),
                        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
                        JUPYTER_CONFIG_DIR=str(workdir / "config"))
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log_path = workdir / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def _copy_without_outputs(self, notebook: Path) -> None:
        """The committed outputs (and saved widget state) would show before anything ran:
        the copy has none, so whatever the page shows, this run produced."""
        import nbformat

        nb = nbformat.read(notebook, as_version=4)
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        nbformat.write(nb, self.root / notebook.name)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """The notebook alone in a workspace of its own (no tab of an earlier one restored)."""
        workspace = re.sub(r"[^A-Za-z0-9]+", "-", Path(name).stem)
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?reset&token={self.token}"

    def start(self, timeout: float = 120) -> JupyterLab:
        jupyter = Path(sys.executable).with_name("jupyter")
        command = [str(jupyter), "lab", "--no-browser", f"--port={self.port}",
                   "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.token={self.token}", f"--notebook-dir={self.root}",
                   "--allow-root"]
        log = self.log_path.open("w")
        self.process = subprocess.Popen(command, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}",
                                            timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f}s: {self.log_tail()}")

    def api(self, path: str):
        """GET /api/<path> of the server (JSON)."""
        url = f"{self.url}/api/{path}?token={self.token}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read())

    def kernel_of(self, name: str) -> dict | None:
        """The kernel of the notebook's session (state and open connections), if it has one."""
        for session in self.api("sessions"):
            if Path(session.get("path", "")).name == name:
                return session.get("kernel")
        return None

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # jupyter shuts its kernels down on SIGTERM
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)


@contextmanager
def open_browser(profile: Path, viewport: tuple[int, int] = (1400, 1800)):
    """A headless Chromium page (Playwright driving Debian's chromium), fresh profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


# --- driving a notebook ------------------------------------------------------------------------
_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

# True once every code cell shows an execution count and the kernel is idle.
_ALL_RAN = """(panel) => {
  const root = document.querySelector(panel);
  if (!root) return false;
  const status = root.querySelector('.jp-Notebook-ExecutionIndicator');
  if (!status || status.getAttribute('data-status') !== 'idle') return false;
  const prompts = [...root.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


# True once some code cell is running or has run.
_STARTED = """(panel) => {
  const root = document.querySelector(panel);
  return !!root && [...root.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent));
}"""


def open_notebook(page, lab: JupyterLab, name: str, timeout: float = 120) -> None:
    """Open the notebook and wait until its kernel is idle *and* the page is connected to it.

    The page may show an idle kernel before its websocket to the kernel is open (on a busy
    machine the server can take a minute to connect); cells run before that are lost.
    """
    page.goto(lab.notebook_url(name), timeout=timeout * 1000)
    page.wait_for_selector(f"{_PANEL} .jp-Cell", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while True:
        accept_kernel_dialog(page)
        kernel = lab.kernel_of(name)
        if kernel and kernel.get("connections", 0) >= 1 \
                and kernel.get("execution_state") == "idle" \
                and page.locator(f'{_PANEL} .jp-Notebook-ExecutionIndicator[data-status="idle"]'
                                 ).count():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the kernel of {name} was not ready within {timeout:.0f}s:"
                               f" {kernel}")
        time.sleep(0.5)


def _run_all_from_the_menu(page) -> None:
    page.locator(f"{_PANEL} .jp-Notebook").click(position={"x": 5, "y": 5})
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def run_all_cells(page, lab: JupyterLab, name: str, timeout: float = 180,
                  stalled: float = 30) -> int:
    """Run > Run All Cells, from the menu bar, and wait until every code cell has run.

    Right after a notebook opens, JupyterLab may not yet treat it as the current notebook, and
    the menu command then does nothing; so the command is repeated until a cell starts. If
    JupyterLab asks which kernel to use, the notebook's own kernel is accepted, as a learner
    would. If the run stops half-way with the kernel idle and nothing changes for ``stalled``
    seconds (a lost connection to the kernel), Run All is chosen again, at most twice.
    Returns how many times Run All was chosen.
    """
    deadline = time.monotonic() + timeout
    chosen = 0
    for _attempt in range(5):
        _run_all_from_the_menu(page)
        chosen += 1
        waited = time.monotonic() + 10
        while time.monotonic() < waited and not page.evaluate(_STARTED, _PANEL):
            accept_kernel_dialog(page)
            time.sleep(0.3)
        if page.evaluate(_STARTED, _PANEL):
            break
        page.keyboard.press("Escape")
    last, since, again = prompts(page), time.monotonic(), 0
    while not page.evaluate(_ALL_RAN, _PANEL):
        accept_kernel_dialog(page)
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"the cells did not all run within {timeout:.0f}s;"
                               f" prompts: {prompts(page)}")
        current = prompts(page)
        if current != last:
            last, since = current, now
        elif now - since > stalled and again < 2 \
                and (lab.kernel_of(name) or {}).get("execution_state") == "idle":
            print(f"[browser] {name}: the run stalled at {current}; choosing Run All again")
            _run_all_from_the_menu(page)
            chosen, again, since = chosen + 1, again + 1, now
        time.sleep(0.5)
    return chosen


def accept_kernel_dialog(page) -> None:
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count() and dialog.first.is_visible():
        dialog.first.get_by_role("button", name="Select").click()


def prompts(page) -> list[str]:
    return page.locator(f"{_PANEL} .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()


def outputs(page) -> list[str]:
    return page.locator(f"{_PANEL} .jp-OutputArea-output").all_inner_texts()


def save(page, lab: JupyterLab, name: str, timeout: float = 30) -> dict:
    """Save the notebook from the browser (Ctrl-S) and return the file JupyterLab wrote."""
    path = lab.root / name
    before = path.stat().st_mtime_ns
    page.locator(f"{_PANEL} .jp-Notebook").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + timeout
    while path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"JupyterLab did not save {name}")
        time.sleep(0.2)
    time.sleep(0.5)
    return json.loads(path.read_text())
