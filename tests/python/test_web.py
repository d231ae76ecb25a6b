"""The web view (GET /, web/, src/http/web.rs) in a real browser: headless
Chromium driven by selenium. Log in through the form, watch a running
copy's progress bar move and cancel it, a read-only user's view of root's
task, the keyboard, HTTPS, the block job verbs and speed limit, the storage
view, and 10,000 tasks. Also the page's own HTTP answers (types, ETag,
security headers), without a browser.

Screenshots: XAPID_WEB_SCREENSHOTS=docs makes test_screenshots write
docs/web-*.png (otherwise they go to a temporary directory)."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import ssl
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import Servers
from storage_util import M, create_vdi, default_sr, import_raw, sdk_x, wait_for, wait_task

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs chromium and chromedriver (Debian: chromium, chromium-driver; tests/run.sh installs them)")

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 800
ASSETS = {
    "/": "text/html; charset=utf-8",
    "/app.js": "text/javascript; charset=utf-8",
    "/tasks.js": "text/javascript; charset=utf-8",
    "/views.js": "text/javascript; charset=utf-8",
    "/app.css": "text/css; charset=utf-8",
    "/favicon.svg": "image/svg+xml",
}


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def web():
    """A server of this module's own (its users and tasks stay here)."""
    with tempfile.TemporaryDirectory(prefix="xapid-web-") as d:
        servers = Servers(Path(d))
        srv = servers(login_failure_delay_secs=0.01, login_failure_max_delay_secs=0.05)
        yield srv
        servers.close()


@pytest.fixture(scope="module")
def driver():
    """One headless Chromium for the module, 1280x800."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--window-size={WIDTH},{HEIGHT}", "--ignore-certificate-errors",
              "--disable-extensions", "--no-first-run", "--disable-background-timer-throttling"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    yield d
    d.quit()


@pytest.fixture(scope="module")
def reader(web):
    """A local user with the read-only role: (name, password)."""
    root = web.login()
    raw = web.raw
    role = raw.ok("role.get_by_name_label", root, "read-only")[0]
    subj = raw.ok("subject.create", root, {"subject_identifier": "local:reader"})
    pw = "pw-reader-S3cret!"
    web.secrets.add(pw)
    raw.ok("subject.set_password", root, subj, pw)
    raw.ok("subject.add_to_roles", root, subj, role)
    raw.ok("session.logout", root)
    return "reader", pw


@pytest.fixture
def x(web):
    x = sdk_x(web)
    yield x
    try:
        x.session.logout()
    except Exception:
        pass


# -- helpers -------------------------------------------------------------------------------


def login(d, url, user, password, keyboard=False):
    """Opens the page afresh and logs in through the form; returns once the
    first event.from has been drawn."""
    d.get(url)
    shown = wait_for(lambda: next((v for v in ("login-view", "app")
                                   if d.find_element(By.ID, v).is_displayed()), None), 10, 0.05,
                     "the login form or the app")
    if shown == "app":  # still logged in from an earlier test: log out first
        d.find_element(By.ID, "logout").click()
        wait_for(lambda: d.find_element(By.ID, "login-view").is_displayed(), 10, 0.05, "the login form")
    u = d.find_element(By.NAME, "username")
    u.clear()
    u.send_keys(user)
    p = d.find_element(By.NAME, "password")
    p.send_keys(password)
    if keyboard:
        p.send_keys(Keys.ENTER)
    else:
        d.find_element(By.ID, "login-button").click()
    wait_for(lambda: d.execute_script(
        "return document.body.classList.contains('loaded') && "
        "document.getElementById('live').textContent === 'live'"), 20, 0.05, "the page to load")


def console_errors(d, origin):
    """The browser console's errors about a server's page since the last
    call (a CSP violation, a failed request, an exception in the page); a
    page of an earlier test's server, now stopped, may have left some about
    its own."""
    return [e["message"] for e in d.get_log("browser")
            if e["level"] == "SEVERE" and (origin in e["message"] or "Content Security Policy" in e["message"])]


def check_accessible(d):
    """Every visible button has a name; every progress bar and meter a
    value and a label."""
    bad = d.execute_script("""
        const out = [];
        for (const b of document.querySelectorAll('button')) {
            if (b.offsetParent === null || getComputedStyle(b).visibility === 'hidden') continue;
            const name = (b.getAttribute('aria-label') || b.textContent).trim();
            if (!name) out.push('unnamed button ' + b.outerHTML.slice(0, 80));
        }
        for (const p of document.querySelectorAll('[role=progressbar], [role=meter]')) {
            if (p.offsetParent === null) continue;
            const v = p.getAttribute('aria-valuenow');
            if (v === null || isNaN(parseFloat(v)) || !p.getAttribute('aria-label'))
                out.push('bar without a value or label ' + p.outerHTML.slice(0, 80));
        }
        for (const i of document.querySelectorAll('input, select')) {
            if (i.offsetParent === null) continue;
            if (!(i.labels && i.labels.length) && !i.getAttribute('aria-label'))
                out.push('unlabelled field ' + i.outerHTML.slice(0, 80));
        }
        return out;
    """)
    assert bad == [], bad


def row(d, ref):
    els = d.find_elements(By.CSS_SELECTOR, f'.trow[data-ref="{ref}"]')
    return els[0] if els else None


def row_state(d, ref):
    """(progress aria-valuenow, status text, cancel enabled) of a task's row,
    or None while it is not drawn."""
    return d.execute_script("""
        const r = document.querySelector(`.trow[data-ref="${arguments[0]}"]`);
        if (!r) return null;
        return [parseFloat(r.querySelector('[role=progressbar]').getAttribute('aria-valuenow')),
                r.querySelector('.badge').textContent,
                !r.querySelector('button.cancel').disabled,
                r.querySelector('.ptext').textContent];
    """, ref)


def slow_backup(web, x, size=16 * M, speed=2 * M, **options):
    """A backup job that takes size/speed seconds (every byte is data):
    (job, its task, source, target)."""
    sr = default_sr(x)[0]
    src = create_vdi(x, sr, size, "raw", "web-source")
    import_raw(web, x, src, os.urandom(size))
    tgt = create_vdi(x, sr, size, "qcow2", "web-target")
    opts = {"speed": str(speed), "auto_dismiss": "false"}
    opts.update(options)
    job = x.block_job.backup(src, tgt, opts)
    task = x.block_job.get_task(job)
    return job, task, src, tgt


def end_job(x, job):
    try:
        rec = x.block_job.get_record(job)
        if rec["status"] not in ("concluded", "null"):
            x.block_job.cancel(job, True)
        wait_for(lambda: x.block_job.get_status(job) == "concluded", 30, what="the job to conclude")
        x.block_job.dismiss(job)
    except Exception:
        pass


def http_get(srv, path, headers=None, tls=False):
    if tls:
        ctx = ssl._create_unverified_context()
        c = http.client.HTTPSConnection("127.0.0.1", srv.tls_port, timeout=30, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


# -- the page's files ------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True])
def test_assets_types_etags_and_security_headers(web, tls):
    for path, ctype in ASSETS.items():
        r, body = http_get(web, path, tls=tls)
        assert r.status == 200, path
        assert r.getheader("content-type") == ctype
        csp = r.getheader("content-security-policy")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.getheader("x-content-type-options") == "nosniff"
        assert r.getheader("x-frame-options") == "DENY"
        etag = r.getheader("etag")
        assert etag and etag.startswith('"')
        r2, body2 = http_get(web, path, {"If-None-Match": etag}, tls=tls)
        assert r2.status == 304 and body2 == b""
        if path != "/":
            assert body == (REPO / "web" / path[1:]).read_bytes()
    html = http_get(web, "/")[1].decode()
    assert "<script>" not in html and "https://" not in html and "http://" not in html
    assert 'name="username"' in html and 'name="password"' in html
    # Anything else is not a file of the page.
    r, _ = http_get(web, "/nothing-here.js")
    assert r.status in (404, 405)


# -- tasks -------------------------------------------------------------------------------------


def test_login_watch_progress_and_cancel(web, x, driver):
    login(driver, web.url, "root", web.password)
    assert console_errors(driver, web.url) == []  # no CSP violation, no failed request
    job, task, src, tgt = slow_backup(web, x)
    try:
        first = wait_for(lambda: (lambda s: s if s and s[0] > 0 else None)(row_state(driver, task)),
                         20, 0.1, "the bar to start")
        assert first[1] == "pending" and first[2], first
        later = wait_for(lambda: (lambda s: s if s and s[0] > first[0] else None)(row_state(driver, task)),
                         20, 0.1, "the bar to move")
        assert later[1] == "pending"
        assert "/s" in later[3] or "ETA" in later[3], later  # a rate or an ETA shows
        bar = row(driver, task).find_element(By.CSS_SELECTOR, "[role=progressbar]")
        assert bar.get_attribute("aria-label") == "Progress of block_job.backup"
        # The objects it acts on link to them (once the server names them).
        if x.task.get_record(task).get("objects"):
            names = [a.text for a in row(driver, task).find_elements(By.CSS_SELECTOR, ".c-obj a")]
            assert "web-source" in names and "web-target" in names, names
        row(driver, task).find_element(By.CSS_SELECTOR, "button.cancel").click()
        end = wait_for(lambda: (lambda s: s if s and s[1] == "cancelled" else None)(row_state(driver, task)),
                       20, 0.1, "the row to show cancelled")
        assert not end[2], "cancel stays enabled on a cancelled task"
        assert x.task.get_status(task) == "cancelled"
        # A finished task stays until destroyed; its error is readable.
        r = row(driver, task)
        assert "TASK_CANCELLED" in r.find_element(By.CSS_SELECTOR, ".tsub").text
        destroy = r.find_element(By.CSS_SELECTOR, "button.destroy")
        assert destroy.is_enabled()
        end_job(x, job)
        destroy.click()
        wait_for(lambda: row(driver, task) is None, 10, 0.1, "the destroyed task's row to go")
    finally:
        end_job(x, job)


def test_read_only_user_has_no_cancel_on_roots_task(web, x, driver, reader):
    job, task, src, tgt = slow_backup(web, x, speed=1 * M)
    try:
        login(driver, web.url, *reader)
        assert "reader" in driver.find_element(By.ID, "whoami").text
        state = wait_for(lambda: row_state(driver, task), 10, 0.1, "root's task to show")
        assert state[1] == "pending"
        enabled = [b for b in driver.find_elements(By.CSS_SELECTOR, "button.cancel") if b.is_enabled()]
        assert enabled == [], "a read-only user sees an enabled cancel button"
        assert not row(driver, task).find_element(By.CSS_SELECTOR, "button.destroy").is_enabled()
        # The block job's verbs are off too.
        driver.find_element(By.ID, "tab-jobs").click()
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, f'tr[data-ref="{job}"]'), 10, 0.1, "the job row")
        verbs = driver.find_elements(By.CSS_SELECTOR, f'tr[data-ref="{job}"] button')
        assert verbs and not any(b.is_enabled() for b in verbs)
    finally:
        end_job(x, job)


def test_keyboard_login_tab_to_cancel_and_enter(web, x, driver):
    login(driver, web.url, "root", web.password, keyboard=True)
    job, task, src, tgt = slow_backup(web, x)
    try:
        wait_for(lambda: (lambda s: s and s[2])(row_state(driver, task)), 20, 0.1, "a cancellable row")
        driver.find_element(By.ID, "task-filter").click()
        body = driver.switch_to.active_element
        for _ in range(60):
            body.send_keys(Keys.TAB)
            body = driver.switch_to.active_element
            cls = body.get_attribute("class") or ""
            if "cancel" in cls.split() and body.get_attribute("data-ref") == task:
                break
        else:
            raise AssertionError("Tab never reached the task's cancel button")
        assert body.get_attribute("aria-label") == "Cancel task block_job.backup"
        body.send_keys(Keys.ENTER)
        wait_for(lambda: (lambda s: s and s[1] == "cancelled")(row_state(driver, task)), 20, 0.1,
                 "cancelled after Enter")
        # The view tabs move with the arrow keys.
        driver.find_element(By.ID, "tab-tasks").send_keys(Keys.ARROW_RIGHT)
        wait_for(lambda: driver.find_element(By.ID, "view-jobs").is_displayed(), 5, 0.05, "the jobs view")
        assert driver.switch_to.active_element.get_attribute("id") == "tab-jobs"
        assert driver.find_element(By.ID, "tab-jobs").get_attribute("aria-selected") == "true"
        driver.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
        wait_for(lambda: driver.find_element(By.ID, "view-tasks").is_displayed(), 5, 0.05, "the tasks view")
    finally:
        end_job(x, job)


def test_https_page_logs_in_and_follows_events(web, x, driver):
    login(driver, web.https_url, "root", web.password)
    assert driver.current_url.startswith("https://")
    t = x.task.create("over-tls", "")
    wait_for(lambda: row_state(driver, t), 10, 0.1, "the new task over https")
    x.task.set_progress(t, 0.25)
    wait_for(lambda: (lambda s: s and s[0] == 25)(row_state(driver, t)), 5, 0.05, "its progress")
    x.task.set_status(t, "success")
    wait_for(lambda: (lambda s: s and s[1] == "success" and s[0] == 100)(row_state(driver, t)), 5, 0.05,
             "success")
    x.task.destroy(t)
    wait_for(lambda: row(driver, t) is None, 5, 0.05, "its row to go")


def test_task_tree_and_details(web, x, driver):
    login(driver, web.url, "root", web.password)
    parent = x.task.create("tree-parent", "three parts")
    # Subtasks: made with the subtask-of header, as xapi's.
    kids = [web.raw.ok("task.create", x._session, f"tree-kid-{i}", "", headers={"subtask-of": parent})
            for i in range(3)]
    x.task.set_status(parent, "failure")
    x.task.set_error_info(parent, ["VDI_IO_ERROR", "Device I/O error on the target"])
    state = wait_for(lambda: (lambda s: s if s and s[1] == "failure" else None)(row_state(driver, parent)),
                     10, 0.1, "the failure")
    r = row(driver, parent)
    assert "VDI_IO_ERROR: Device I/O error on the target" in r.find_element(By.CSS_SELECTOR, ".tsub").text
    r.find_element(By.CSS_SELECTOR, ".tname").click()
    panel = driver.find_element(By.ID, "task-detail")
    wait_for(lambda: panel.is_displayed() and "VDI_IO_ERROR" in panel.text, 5, 0.05, "the details")
    assert "three parts" in panel.text
    for k in kids:
        wait_for(lambda: row(driver, k) is not None, 5, 0.05, "a subtask row")
        assert row(driver, k).get_attribute("aria-level") == "2"
    # Names are text, never markup.
    evil = x.task.create('<img src=x id=evil onerror="document.title=1">', "<b>bold</b>")
    wait_for(lambda: row(driver, evil) is not None, 5, 0.05, "the task with markup in its name")
    assert row(driver, evil).find_element(By.CSS_SELECTOR, ".tname").text.startswith("<img src=x")
    assert driver.find_elements(By.ID, "evil") == [] and driver.find_elements(By.CSS_SELECTOR, ".trow b") == []
    x.task.set_status(evil, "success")
    x.task.destroy(evil)
    # A link to a task opens it, also on a fresh load.
    driver.get(web.url + f"#task/{kids[1]}")
    driver.refresh()
    wait_for(lambda: "tree-kid-1" in driver.find_element(By.ID, "task-detail").text, 10, 0.05,
             "the linked task's details")
    # Collapsing hides the subtasks; the toggle says so.
    tog = row(driver, parent).find_element(By.CSS_SELECTOR, "button.tog")
    assert tog.get_attribute("aria-expanded") == "true" and tog.text.endswith("3")
    tog.click()
    wait_for(lambda: all(row(driver, k) is None for k in kids), 5, 0.05, "the subtasks to fold")
    assert row(driver, parent).find_element(By.CSS_SELECTOR, "button.tog").get_attribute("aria-expanded") == "false"
    for t in [*kids, parent]:
        x.task.destroy(t)


# -- block jobs and storage ----------------------------------------------------------------------


def job_row_state(d, job):
    return d.execute_script("""
        const r = document.querySelector(`tr[data-ref="${arguments[0]}"]`);
        if (!r) return null;
        const on = {};
        for (const b of r.querySelectorAll('button.verb')) on[b.textContent] = !b.disabled;
        return [r.querySelector('.badge').textContent, on, r.querySelector('.limit').textContent,
                parseFloat(r.querySelector('[role=progressbar]').getAttribute('aria-valuenow'))];
    """, job)


def test_block_job_speed_pause_resume_cancel_dismiss(web, x, driver):
    job, task, src, tgt = slow_backup(web, x, speed=1 * M)
    uuid = x.block_job.get_uuid(job)
    try:
        login(driver, web.url, "root", web.password)
        driver.find_element(By.ID, "tab-jobs").click()
        st = wait_for(lambda: (lambda s: s if s and s[0] == "running" else None)(job_row_state(driver, job)),
                      10, 0.1, "the running job")
        assert st[1]["Pause"] and st[1]["Cancel"] and not st[1]["Resume"] and not st[1]["Complete"]
        assert st[2] == "limit 1.0 MiB/s"
        # The speed limit, in MiB/s, set with Enter.
        box = driver.find_element(By.ID, f"speed-{uuid}")
        box.send_keys("3", Keys.ENTER)
        wait_for(lambda: x.block_job.get_speed(job) == str(3 * M), 10, 0.1, "the new speed")
        wait_for(lambda: job_row_state(driver, job)[2] == "limit 3.0 MiB/s", 5, 0.05, "the new limit shown")
        driver.find_element(By.ID, f"job-pause-{uuid}").click()
        st = wait_for(lambda: (lambda s: s if s and s[0] == "paused" else None)(job_row_state(driver, job)),
                      10, 0.1, "paused")
        assert st[1]["Resume"] and not st[1]["Pause"]
        assert x.block_job.get_status(job) == "paused"
        driver.find_element(By.ID, f"job-resume-{uuid}").click()
        wait_for(lambda: (lambda s: s and s[0] == "running")(job_row_state(driver, job)), 10, 0.1, "running")
        driver.find_element(By.ID, f"job-cancel-{uuid}").click()
        st = wait_for(lambda: (lambda s: s if s and s[0] == "concluded" else None)(job_row_state(driver, job)),
                      10, 0.1, "concluded")
        assert st[1]["Dismiss"] and not st[1]["Cancel"]
        assert wait_task(x, task)["status"] == "cancelled"
        driver.find_element(By.ID, f"job-dismiss-{uuid}").click()
        wait_for(lambda: job_row_state(driver, job) is None, 10, 0.1, "the dismissed job's row to go")
    finally:
        end_job(x, job)


def test_mirror_ready_then_complete_from_the_page(web, x, driver):
    sr = default_sr(x)[0]
    dev = create_vdi(x, sr, 4 * M, "raw", "web-mirror-source")
    import_raw(web, x, dev, os.urandom(4 * M))
    tgt = create_vdi(x, sr, 4 * M, "qcow2", "web-mirror-target")
    job = x.block_job.mirror(dev, tgt, {"auto_dismiss": "false", "job_id": "web-mirror"})
    task = x.block_job.get_task(job)
    try:
        login(driver, web.url, "root", web.password)
        driver.find_element(By.ID, "tab-jobs").click()
        st = wait_for(lambda: (lambda s: s if s and s[0] == "ready" else None)(job_row_state(driver, job)),
                      20, 0.1, "the mirror to be ready")
        assert st[1]["Complete"] and st[1]["Pause"] and st[1]["Cancel"]
        driver.find_element(By.ID, f"job-complete-{x.block_job.get_uuid(job)}").click()
        wait_for(lambda: (lambda s: s and s[0] == "concluded")(job_row_state(driver, job)), 20, 0.1,
                 "concluded")
        assert wait_task(x, task)["status"] == "success"
        assert x.VDI.get_location(dev).endswith(".qcow2")  # the pivot: dev lives in the target's file
    finally:
        end_job(x, job)


def test_storage_sizes_snapshots_cbt_and_history(web, x, driver):
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, 8 * M, "qcow2", "web-chain")
    x.VDI.enable_cbt(v)
    snap = x.VDI.snapshot(v)
    # An Async copy: its task stays (a plain call's goes when it returns),
    # so the VDI has a history.
    done = wait_task(x, x.Async.VDI.copy(v, sr))
    assert done["status"] == "success", done
    copy = re.search(r"OpaqueRef:[0-9a-f-]+", done["result"]).group(0)
    x.VDI.set_name_label(copy, "web-chain-copy")
    login(driver, web.url, "root", web.password)
    driver.find_element(By.ID, "tab-storage").click()
    uuid = x.VDI.get_uuid(v)
    row_ = wait_for(lambda: driver.find_elements(By.ID, f"vdi-{uuid}"), 10, 0.1, "the VDI row")[0]
    cells = [c.text for c in row_.find_elements(By.CSS_SELECTOR, "th, td")]
    assert cells[1] == "qcow2" and cells[2] == "8.0 MiB", cells
    assert cells[6] == "on", cells  # CBT
    assert cells[5].startswith("on "), cells  # an overlay on its snapshot
    # The snapshot is listed right under its VDI.
    nxt = driver.execute_script("return arguments[0].nextElementSibling.id", row_)
    assert nxt == f"vdi-{x.VDI.get_uuid(snap)}"
    jobs = x.VDI.get_record(v)["jobs"]
    hist = driver.find_element(By.ID, f"hist-vdi-{uuid}-button")
    assert hist.text == f"History ({len(jobs)})" and len(jobs) >= 1
    hist.click()
    lst = wait_for(lambda: driver.find_elements(By.ID, f"hist-vdi-{uuid}"), 5, 0.05, "the history")[0]
    assert "success" in lst.text
    assert driver.find_element(By.ID, f"hist-vdi-{uuid}-button").get_attribute("aria-expanded") == "true"
    # An SR's utilisation is a meter with a value.
    meter = driver.find_element(By.CSS_SELECTOR, ".sr [role=meter]")
    assert float(meter.get_attribute("aria-valuenow")) >= 0
    # An object link in a task row leads to the object.
    for t, rec in x.task.get_all_records().items():
        if copy in rec.get("objects", []) or v in rec.get("objects", []):
            driver.get(web.url + f"#task/{t}")
            link = wait_for(lambda: driver.find_elements(
                By.CSS_SELECTOR, f'.trow[data-ref="{t}"] .c-obj a'), 10, 0.1, "an object link")[0]
            link.click()
            wait_for(lambda: driver.find_element(By.ID, "view-storage").is_displayed(), 5, 0.05, "storage")
            break
    else:
        pytest.fail("no task names the VDI or its copy")


# -- 10,000 tasks ------------------------------------------------------------------------------


class JsonPool:
    """JSON-RPC calls over one keep-alive connection per thread."""

    def __init__(self, port):
        self.port = port
        self.local = threading.local()

    def call(self, method, *params):
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("POST", "/jsonrpc", json.dumps({"jsonrpc": "2.0", "method": method, "params": params,
                                                  "id": 1}), {"Content-Type": "application/json"})
        out = json.loads(c.getresponse().read())
        assert "error" not in out, out
        return out["result"]


def test_ten_thousand_tasks(make_server, driver):
    srv = make_server()
    pool = JsonPool(srv.port)
    s = pool.call("session.login_with_password", "root", srv.password)
    n = 10_000
    with ThreadPoolExecutor(8) as ex:
        refs = list(ex.map(lambda i: pool.call("task.create", s, f"bulk-{i:05d}", "one of many"), range(n)))
    watched = pool.call("task.create", s, "watched", "")
    t0 = time.monotonic()
    login(driver, srv.url, "root", srv.password)
    load = time.monotonic() - t0
    assert driver.find_element(By.ID, "task-summary").text == f"{n + 1} tasks, {n + 1} pending"
    # Only the rows in sight are in the document.
    assert len(driver.find_elements(By.CSS_SELECTOR, ".trow")) < 60
    assert row_state(driver, watched) is not None  # the newest, on top
    # A progress change reaches the page within a second or two.
    for p in (0.3, 0.6):
        t1 = time.monotonic()
        pool.call("task.set_progress", s, watched, p)
        wait_for(lambda: (lambda st: st and st[0] == p * 100)(row_state(driver, watched)), 5, 0.02,
                 "the progress change")
        assert time.monotonic() - t1 < 2.0, time.monotonic() - t1
    # New tasks arrive while it runs; scrolling to the end draws the oldest.
    more = [pool.call("task.create", s, f"late-{i}", "") for i in range(20)]
    wait_for(lambda: driver.find_element(By.ID, "task-summary").text.startswith(f"{n + 21} tasks"),
             10, 0.05, "the late tasks")
    driver.execute_script("const s = document.getElementById('task-scroll'); s.scrollTop = s.scrollHeight;")
    wait_for(lambda: row_state(driver, refs[0]) is not None, 5, 0.05, "the oldest row")
    # The filter finds one task among all.
    f = driver.find_element(By.ID, "task-filter")
    f.send_keys("bulk-04242")
    wait_for(lambda: driver.find_element(By.ID, "task-summary").text.startswith("1 shown of"), 5, 0.05,
             "the filtered list")
    assert row_state(driver, refs[4242]) is not None
    pool.call("session.logout", s)
    assert load < 30, load


# -- screenshots -------------------------------------------------------------------------------


def test_screenshots(make_server, tmp_path, driver):
    """A realistic scene (a VM copy with its subtasks, a rate-limited
    backup, a paused mirror, finished, failed and cancelled tasks, CBT and
    snapshots in two SRs), photographed in each view at 1280x800:
    docs/web-*.png when XAPID_WEB_SCREENSHOTS=docs."""
    out = Path(os.environ.get("XAPID_WEB_SCREENSHOTS") or tmp_path)
    if not out.is_absolute():
        out = REPO / out
    srv = make_server(start=False, fault_injection=True)
    local, backups = tmp_path / "sr-local", tmp_path / "sr-backups"
    with open(srv.config_path, "a") as f:
        f.write(f'sr = {{ "Local storage" = "{local}", "Backups" = "{backups}" }}\n')
    srv.start()
    x = sdk_x(srv)
    sr = x.SR.get_by_name_label("Local storage")[0]
    bk = x.SR.get_by_name_label("Backups")[0]

    def disk(label, size, fmt="raw", data=None):
        v = create_vdi(x, sr, size, fmt, label)
        import_raw(srv, x, v, os.urandom(data if data is not None else size))
        return v

    vm = x.VM.create({"name_label": "web-01"})
    disks = [disk("web-01 system", 24 * M), disk("web-01 data", 12 * M), disk("web-01 logs", 6 * M)]
    for i, v in enumerate(disks):
        x.VBD.create({"VM": vm, "VDI": v, "userdevice": str(i), "bootable": i == 0, "mode": "RW", "type": "Disk"})
    db = disk("db-01 system", 32 * M, "qcow2", 12 * M)
    x.VDI.enable_cbt(db)
    for _ in range(2):
        x.VDI.snapshot(db)
    scratch = disk("scratch", 16 * M)
    jobs = []
    try:
        # Finished: a copy into the backup SR; a cancelled backup; a failed
        # task of a script.
        x.VDI.copy(disks[2], bk)
        t = x.Async.VDI.copy(scratch, bk)
        wait_task(x, t)
        tgt = create_vdi(x, bk, 16 * M, "qcow2", "scratch backup")
        j = x.block_job.backup(scratch, tgt, {"speed": str(1 * M), "auto_dismiss": "true"})
        x.task.cancel(x.block_job.get_task(j))
        wait_task(x, x.block_job.get_task(j))
        f = x.task.create("Nightly export of db-01", "export to nfs://backup01/db")
        x.task.set_progress(f, 0.42)
        x.task.set_error_info(f, ["VDI_IO_ERROR", "Device I/O error: short write on the target"])
        x.task.set_status(f, "failure")
        # Running: a paused mirror, a VM copy held half-way on its biggest
        # disk, and a rate-limited backup.
        mt = create_vdi(x, bk, 16 * M, "qcow2", "scratch mirror")
        m = x.block_job.mirror(scratch, mt, {"speed": str(1 * M), "job_id": "scratch-mirror"})
        jobs.append(m)
        wait_for(lambda: int(x.block_job.get_current_progress(m)) > 0, 20, 0.1, "the mirror to start")
        x.block_job.pause(m)
        x.VDI.add_to_other_config(disks[0], "xapid-fault", "read:SLOW=8000@%d*1" % (14 * M))
        copy = x.Async.VM.copy(vm, "web-01 (copy)", bk)
        btgt = create_vdi(x, bk, 32 * M, "qcow2", "db-01 nightly")
        b = x.block_job.backup(db, btgt, {"speed": str(3 * M), "job_id": "db-01-nightly"})
        jobs.append(b)
        wait_for(lambda: len(x.task.get_subtasks(copy)) == 3, 20, 0.1, "the VM copy's subtasks")
        wait_for(lambda: int(x.block_job.get_rate(b)) > 0, 20, 0.1, "a rate")

        login(driver, srv.url, "root", srv.password)
        wait_for(lambda: (lambda s: s and s[0] > 0 and "/s" in s[3])(row_state(driver, x.block_job.get_task(b))),
                 20, 0.1, "the backup's rate on the page")
        out.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out / "web-tasks.png"))
        check_accessible(driver)
        driver.find_element(By.ID, "tab-jobs").click()
        wait_for(lambda: job_row_state(driver, b), 10, 0.1, "the jobs")
        driver.save_screenshot(str(out / "web-jobs.png"))
        check_accessible(driver)
        driver.find_element(By.ID, "tab-storage").click()
        hist = wait_for(lambda: driver.find_elements(By.ID, f"hist-vdi-{x.VDI.get_uuid(scratch)}-button"),
                        10, 0.1, "the storage view")
        hist[0].click()
        # The SR with the snapshots, the CBT and the open history, at the top.
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", f"sr-{x.SR.get_uuid(sr)}")
        driver.save_screenshot(str(out / "web-storage.png"))
        check_accessible(driver)
        assert console_errors(driver, srv.url) == []
        for name in ("web-tasks.png", "web-jobs.png", "web-storage.png"):
            assert (out / name).stat().st_size > 10_000
        x.task.cancel(copy)
        wait_task(x, copy)
    finally:
        for j in jobs:
            end_job(x, j)
