#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The graphite-web views in a real browser (headless Chromium, Debian's
chromium + chromium-driver, driven by Debian's python3-selenium).

Debian 12's graphite-web 1.1.8 as a Debian site runs it: Django settings
graphite.settings (as /usr/share/graphite-web/graphite.wsgi), STATIC_ROOT
the static folder (as /etc/graphite/local_settings.py) and /static/ served
straight from that folder (as the Alias of apache2-graphite.conf). The
package's files are COPIED into the temp dir and graphs/graphite/
graphite-web-fix is applied to the copy (nothing under /usr is touched);
VQ_BROWSER_UNFIXED=1 skips the fix and shows the faults.

A real collectd with the built vacquery plugin and the shipped
write_graphite drop-in writes a fleet sent by vacquery-send into
carbon-cache, and the machine-level and VM paths are written for each
factory (graphite_e2e.write_machines: the new panels' data); the shipped loader saves the dashboards and templates
(--instantiate). Then every graphite-web view the README documents is
opened in Chromium: vacmon-all; the Site, Space and Factory templates with a
site, space and factory chosen; the saved per-site, -space and -factory
dashboards. On each, after the time range is set to the past 30 minutes
(what the "Relative Time Range" dialog does):

  * the page is titled after the dashboard, no error dialog is open and
    graphite-web gave the page no error to show (initialError);
  * the browser console has no SEVERE entry (two are ignored and counted:
    resources of other hosts, unreachable offline - ace.js asks Google
    Fonts - and Chromium's own /favicon.ico request, which graphite-web
    answers 404 under Apache too);
  * as many graph images as the dashboard's saved state has graphs, each
    loaded (naturalWidth > 0), and each target of each image returns
    non-null datapoints through /render?format=json with the image's own
    parameters;
  * a screenshot of the whole page goes to
    $top_builddir/tests/browser/screenshots/NAME.png (VQ_BROWSER_DOCS=DIR
    also copies them there, e.g. docs/img).

Then the dashboard UI's Dashboard > Finder (README: the saved dashboards
are listed there) is opened with clicks: it lists vacmon-all and one
dashboard per site, space and factory, and a double click opens one.

The Grafana dashboards are not rendered: there is no Grafana server here.
tests/e2e/graphite_e2e.py renders every Grafana panel target through
graphite-web's /render instead.

VQ_BROWSER_SECONDS=N sends the fleet for N seconds (vacquery-send
--duration) instead of twice, for pictures with curves.
Prints one line per check, ends with `N passed, M failed`. Exit 0 pass,
1 fail, 99 hard error (a package missing: tools/install-deps.sh).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import e2e  # noqa: E402
import graphite_e2e  # noqa: E402  (Run: collectd + stack + the drop-in)
import graphite_stack  # noqa: E402

TOP = e2e.TOP_SRCDIR
FIX = os.path.join(TOP, "graphs", "graphite", "graphite-web-fix")
LOADER = os.path.join(TOP, "graphs", "graphite", "vacmon-graphite")
DEBIAN_WEBAPP = graphite_stack.DEBIAN_WEBAPP
DEBIAN_STATIC = graphite_stack.DEBIAN_STATIC
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
RANGE = ("30", "minutes")
CK = graphite_e2e.CK  # one list of checks with the Run helpers'
log = e2e.log


def missing():
    """What this test needs and is not installed (Debian package names)."""
    bad = graphite_stack.missing_packages()
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver"),
                      (e2e.COLLECTD, "collectd-core")):
        if not os.access(path, os.X_OK):
            bad.append("%s (%s)" % (path, pkg))
    try:
        import selenium  # noqa: F401
    except ImportError:
        bad.append("python3-selenium")
    return bad


def fix(action, webapp, static):
    """Runs graphite-web-fix; returns (exit status, output)."""
    r = subprocess.run([graphite_stack.PYTHON, FIX, action, "--webapp", webapp,
                        "--static", static], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def snapshot(paths):
    """{path: bytes} of the files graphite-web-fix edits."""
    out = {}
    for p in paths:
        with open(p, "rb") as f:
            out[p] = f.read()
    return out


def copy_graphite(tmp, apply_fix):
    """Copies Debian's graphite package and static files into tmp, applies
    the fix unless told not to; returns (webapp dir, static dir)."""
    webapp, static = os.path.join(tmp, "webapp"), os.path.join(tmp, "static")
    shutil.copytree(os.path.join(DEBIAN_WEBAPP, "graphite"), os.path.join(webapp, "graphite"),
                    symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(DEBIAN_STATIC, static, symlinks=True)
    files = [os.path.join(webapp, "graphite", "dashboard", "views.py"),
             os.path.join(static, "js", "dashboard.js")]
    pristine = snapshot(files)
    rc, out = fix("check", webapp, static)
    CK.check("graphite-web-fix check: Debian's 1.1.8 needs the fix (exit 1)", rc == 1, out)
    if not apply_fix:
        log("VQ_BROWSER_UNFIXED=1: graphite-web as Debian ships it")
        return webapp, static
    rc, out = fix("apply", webapp, static)
    CK.check("graphite-web-fix apply (exit 0)", rc == 0, out)
    fixed = snapshot(files)
    rc, out = fix("apply", webapp, static)
    CK.check("graphite-web-fix apply again changes nothing",
             rc == 0 and snapshot(files) == fixed, out)
    rc, out = fix("revert", webapp, static)
    CK.check("graphite-web-fix revert restores Debian's files byte for byte",
             rc == 0 and snapshot(files) == pristine, out)
    rc1, out1 = fix("apply", webapp, static)
    rc2, out2 = fix("check", webapp, static)
    CK.check("graphite-web-fix apply, then check (exit 0)",
             rc1 == 0 and rc2 == 0 and snapshot(files) == fixed, out1 + out2)
    settings = os.path.join(webapp, "graphite", "settings.py")
    with open(settings) as f:
        text = f.read()
    with open(settings, "w") as f:
        f.write(text.replace("WEBAPP_VERSION = '1.1.8'", "WEBAPP_VERSION = '1.1.9'"))
    rc, out = fix("revert", webapp, static)
    CK.check("graphite-web-fix refuses another graphite-web version (exit 2)",
             rc == 2 and snapshot(files) == fixed and "refused" in out, out)
    with open(settings, "w") as f:
        f.write(text)
    return webapp, static


class BrowserRun(graphite_e2e.Run):
    """graphite_e2e's collectd + carbon + graphite-web, with graphite-web
    laid out as Debian runs it (webapp and static dirs)."""

    def __init__(self, tmp, webapp, static):
        super().__init__(tmp)
        self.webapp, self.static = webapp, static

    def start(self):
        """graphite_e2e.Run.start with the stack in Debian's layout."""
        real = graphite_stack.GraphiteStack

        def debian_stack(workdir, schemas=None, aggregation=None):
            return real(workdir, schemas, aggregation, webapp=self.webapp, static=self.static)
        graphite_e2e.graphite_stack.GraphiteStack = debian_stack
        try:
            super().start()
        finally:
            graphite_e2e.graphite_stack.GraphiteStack = real

    def send_for(self, seconds):
        """The fleet repeated for `seconds` (about one cycle each 10 s)."""
        fleet = [a for a in graphite_e2e.FLEET]
        i = fleet.index("--cycles")
        del fleet[i:i + 2]
        i = fleet.index("--rate")
        fleet[i + 1] = "10"
        r = subprocess.run([e2e.VQ_SEND, "-H", "127.0.0.1", "-p", str(self.port), "--fleet"]
                           + fleet + ["--duration", str(seconds), "--quiet"], timeout=seconds + 60)
        CK.check("vacquery-send: fleet sent for %d s" % seconds, r.returncode == 0, r.returncode)
        time.sleep(5)


def driver_start(tmp):
    """A headless Chromium with its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1300,900", "--user-data-dir=" + os.path.join(tmp, "chromium"),
              "--hide-scrollbars"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    svc = Service(CHROMEDRIVER, log_path=os.path.join(tmp, "chromedriver.log"))
    return webdriver.Chrome(service=svc, options=o)


def ignored(entry, base):
    """Why a SEVERE console entry is not a fault of the page, or None."""
    msg = entry.get("message", "")
    url = msg.split(" ", 1)[0]
    if "Failed to load resource" in msg and url.startswith("http") \
            and not url.startswith(base):
        return "another host, offline here"
    if url == base + "/favicon.ico" and "404" in msg:
        return "Chromium's favicon request"
    return None


def short(msg):
    """A console message cut to its start and its end (the status)."""
    return msg if len(msg) <= 300 else msg[:150] + " ... " + msg[-140:]


def wait_images(drv, n, timeout=60):
    """Waits until n graph images are there and complete; returns them
    as [{src, w}]."""
    js = ("return Array.from(document.querySelectorAll('img.graph-img'))"
          ".map(i => ({src: i.src, w: i.naturalWidth, done: i.complete}));")
    deadline = time.monotonic() + timeout
    imgs = []
    while time.monotonic() < deadline:
        imgs = drv.execute_script(js)
        if len(imgs) >= n > 0 and all(i["done"] for i in imgs):
            return imgs
        time.sleep(0.5)
    return imgs


def dialog_text(drv):
    """The text of an open Ext message box, or ''."""
    return drv.execute_script(
        "try { if (Ext.MessageBox.isVisible()) return Ext.MessageBox.getDialog().body.dom"
        ".innerText || 'dialog'; } catch (e) { return 'no Ext: ' + e; } return '';")


def set_range(drv):
    """What the Relative Time Range dialog's Ok does (its own functions)."""
    return drv.execute_script(
        "try { TimeRange.type = 'relative';"
        " TimeRange.relativeStartQuantity = htmlStriped(arguments[0]);"
        " TimeRange.relativeStartUnits = htmlStriped(arguments[1]);"
        " TimeRange.relativeUntilQuantity = ''; TimeRange.relativeUntilUnits = 'now';"
        " timeRangeUpdated(); return ''; } catch (e) { return String(e); }", *RANGE)


def render_checks(run, src, cache):
    """Targets of one graph image without data through /render?format=json
    with the image's own parameters: a list of (target, why)."""
    q = urllib.parse.parse_qs(urllib.parse.urlparse(src).query)
    frm, until = q.get("from", ["-1d"])[0], q.get("until", ["now"])[0]
    bad = []
    for t in q.get("target", []):
        key = (t, frm, until)
        if key not in cache:
            try:
                cache[key] = graphite_e2e.has_data(run.stack.render_json(t, frm, until))
            except Exception as e:
                cache[key] = False
                t += " " + repr(e)[:200]
        if not cache[key]:
            bad.append(t)
    return bad, len(q.get("target", []))


def check_view(run, drv, name, path, state_path, outdir, cache):
    """Opens one view and checks it; returns the screenshot path."""
    base = run.stack.url
    try:
        state = json.loads(run.stack.get(state_path))["state"]
        n = len(state["graphs"])
    except Exception as e:
        CK.check("%s: graphite-web has its state (%s)" % (name, state_path), False, e)
        return None
    drv.get(base + path)
    imgs = wait_images(drv, n, 30)
    err = set_range(drv)
    time.sleep(0.5)
    imgs = wait_images(drv, n, 60 if imgs else 5)  # none at all: the page is broken
    title = drv.title
    CK.check("%s: page titled after the dashboard (%r)" % (name, title),
             title.startswith(state_path.split("/load/", 1)[1] + " - "), title)
    dlg = dialog_text(drv)
    CK.check("%s: no error dialog" % name, not dlg, dlg)
    ierr = drv.execute_script(
        "return typeof initialError === 'undefined' ? 'initialError undefined' : initialError;")
    CK.check("%s: graphite-web passes no error to the page (initialError)" % name,
             ierr is None, ierr)
    CK.check("%s: time range set to the past %s %s" % ((name,) + RANGE), not err, err)
    logs = drv.get_log("browser")
    severe = [e for e in logs if e.get("level") == "SEVERE"]
    bad = [short(e["message"]) for e in severe if not ignored(e, base)]
    why = sorted({ignored(e, base) for e in severe} - {None})
    CK.check("%s: no console error (%d ignored: %s)" % (name, len(severe) - len(bad),
                                                        ", ".join(why) or "none"),
             not bad, bad[:4])
    loaded = [i for i in imgs if i["w"] > 0]
    CK.check("%s: %d graph images, all loaded" % (name, n),
             len(imgs) == n and len(loaded) == n,
             "%d images, %d loaded: %s" % (len(imgs), len(loaded),
                                          [i["src"][:120] for i in imgs if i["w"] <= 0][:2]))
    empty, nt = [], 0
    for i in imgs:
        b, k = render_checks(run, i["src"], cache)
        empty += b
        nt += k
    CK.check("%s: every target of every image has data (%d targets)" % (name, nt),
             nt and not empty, empty[:3])
    # the whole page: as tall as the graph area's content
    h = drv.execute_script(
        "try { var d = graphView.getEl().dom; return d.scrollHeight - d.clientHeight; }"
        " catch (e) { return 0; }")
    size = drv.get_window_size()
    if h and h > 0:
        drv.set_window_size(size["width"], min(size["height"] + h + 10, 6000))
        wait_images(drv, n, 20)
        time.sleep(0.5)
    os.makedirs(outdir, exist_ok=True)
    shot = os.path.join(outdir, "%s.png" % name)
    drv.save_screenshot(shot)
    drv.set_window_size(size["width"], size["height"])
    log("%s: screenshot %s" % (name, shot))
    return shot


# graphite_e2e.FLEET is 2 sites x 2 spaces x 2 factories: vacmon-all and
# one saved dashboard per site, space and factory (loader --instantiate).
FINDER_DASHBOARDS = 1 + 2 + 4 + 8


def check_finder(run, drv, saved, outdir):
    """The dashboard UI's Dashboard > Finder lists the saved dashboards, and
    a double click opens one (saved: its name). Returns the screenshot."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    base = run.stack.url
    drv.get(base + "/dashboard/")
    rows = []
    try:
        e2e.wait_for(lambda: drv.find_elements(By.XPATH, "//button[text()='Dashboard']"), 30, 0.3)
        drv.find_element(By.XPATH, "//button[text()='Dashboard']").click()
        e2e.wait_for(lambda: drv.find_elements(
            By.XPATH, "//a[contains(@class,'x-menu-item')][.//span[text()='Finder']]"), 10, 0.2)
        drv.find_element(By.XPATH,
                         "//a[contains(@class,'x-menu-item')][.//span[text()='Finder']]").click()
        e2e.wait_for(lambda: len(drv.find_elements(
            By.CSS_SELECTOR, ".x-window .x-list-body dl")) >= FINDER_DASHBOARDS, 20, 0.3)
        rows = drv.find_elements(By.CSS_SELECTOR, ".x-window .x-list-body dl")
    except Exception as e:
        CK.check("finder: Dashboard > Finder opens", False, repr(e)[:300])
    names = [r.text for r in rows]
    CK.check("finder: lists vacmon-all and one dashboard per site, space and factory (%d)"
             % FINDER_DASHBOARDS, len(names) == FINDER_DASHBOARDS and "vacmon-all" in names
             and saved in names, names)
    os.makedirs(outdir, exist_ok=True)
    shot = os.path.join(outdir, "graphite-web-finder.png")
    drv.save_screenshot(shot)
    row = [r for r in rows if r.text == saved]
    if row:
        ActionChains(drv).double_click(row[0]).perform()
        n = len(json.loads(run.stack.get("/dashboard/load/" + saved))["state"]["graphs"])
        imgs = wait_images(drv, n, 30)
        CK.check("finder: a double click on %s opens it (%d graphs loaded)" % (saved, n),
                 drv.title.startswith(saved + " - ") and len(imgs) == n
                 and all(i["w"] > 0 for i in imgs), (drv.title, len(imgs)))
    bad = [short(e["message"]) for e in drv.get_log("browser")
           if e.get("level") == "SEVERE" and not ignored(e, base)]
    CK.check("finder: no console error", not bad, bad[:4])
    log("finder: screenshot %s" % shot)
    return shot


def views(run):
    """[(name, page path, state path)] of every view the README documents,
    with the first site, space and factory that reached Graphite."""
    facs = run.stack.expand("vac.*.vacquery.*.*.vacquery_factory")
    _, site, _, space, factory = facs[0].split(".")[:5]
    sp = "%s.vacquery.%s" % (site, space)
    fa = "%s.%s" % (sp, factory)
    out = [("graphite-web-vacmon-all", "/dashboard/vacmon-all", "/dashboard/load/vacmon-all")]
    for view, val in (("site", site), ("space", sp), ("factory", fa)):
        out.append(("graphite-web-template-vacmon-%s" % view,
                    "/dashboard/vacmon-%s/%s" % (view, val),
                    "/dashboard/load/vacmon-%s/%s" % (view, val)))
    for view, val in (("site", site), ("space", sp), ("factory", fa)):
        saved = "vacmon-%s-%s" % (view, val.replace(".vacquery.", "."))
        out.append(("graphite-web-saved-vacmon-%s" % view, "/dashboard/" + saved,
                    "/dashboard/load/" + saved))
    return out


def main():
    """Exit status: 0 all checks pass, 1 some fail, 99 a package missing."""
    t0 = time.monotonic()
    bad = missing()
    if bad:
        log("ERROR: missing %s (tools/install-deps.sh installs them)" % ", ".join(bad))
        return 99
    unfixed = os.environ.get("VQ_BROWSER_UNFIXED") == "1"
    outdir = os.path.join(os.path.abspath(os.environ.get("top_builddir", TOP)), "tests",
                          "browser", "screenshots")
    tmp = tempfile.mkdtemp(prefix="vq-browser-")
    run = drv = None
    shots = []
    try:
        webapp, static = copy_graphite(tmp, not unfixed)
        run = BrowserRun(tmp, webapp, static)
        run.start()
        seconds = int(os.environ.get("VQ_BROWSER_SECONDS", "0"))
        if seconds > 0:
            run.send_for(seconds)
        else:
            run.send_fleet()
        # the machine level (polls) and the VMs (virt), for the new panels
        graphite_e2e.write_machines(run)
        r = subprocess.run([graphite_stack.PYTHON, LOADER, "load", run.stack.url,
                            "--instantiate"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        CK.check("loader saves the dashboards and templates", r.returncode == 0,
                 r.stdout.decode("utf-8", "replace"))
        drv = driver_start(tmp)
        log("chromium: %s, chromedriver %s" % (
            drv.capabilities.get("browserVersion"),
            drv.capabilities.get("chrome", {}).get("chromedriverVersion", "?").split(" ")[0]))
        cache = {}
        for name, path, state_path in views(run):
            shot = check_view(run, drv, name, path, state_path, outdir, cache)
            if shot:
                shots.append(shot)
        saved = [v for v in views(run) if v[0] == "graphite-web-saved-vacmon-site"][0]
        shots.append(check_finder(run, drv, saved[1].split("/")[-1], outdir))
        log("grafana: not rendered (no Grafana server on this machine); "
            "tests/e2e/graphite_e2e.py renders every Grafana panel target through /render")
        docs = os.environ.get("VQ_BROWSER_DOCS")
        if docs and not CK.failed:
            for s in shots:
                shutil.copy(s, docs)
            log("copied %d screenshots to %s" % (len(shots), docs))
    except SystemExit:
        pass
    except Exception as e:
        import traceback
        traceback.print_exc()
        CK.check("no exception", False, e)
    finally:
        if drv is not None:
            drv.quit()
        if run is not None:
            run.stop()
        if os.environ.get("VQ_E2E_KEEP") == "1" or CK.failed:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log("browser test: %d screenshots, %.1f s" % (len(shots), time.monotonic() - t0))
    log("%d passed, %d failed" % (CK.passed, CK.failed))
    return 0 if CK.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
