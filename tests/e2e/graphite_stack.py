#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A throw-away Graphite: carbon-cache and graphite-web as ordinary processes.

Debian 12's packages graphite-carbon (1.1.7) and graphite-web (1.1.8) live in
/usr/lib/python3/dist-packages, so this file and the daemons it starts run
under /usr/bin/python3 (not a pyenv python3 that may come first on PATH).

Everything lives in one directory (storage, whisper files, logs, carbon.conf,
graphite-web's local settings and its own sqlite database); ports are free
ports on 127.0.0.1. Nothing is written under /etc, /var or /run.

    stack = GraphiteStack(workdir, schemas=..., aggregation=...)
    stack.start()          # carbon-cache, then graphite-web; waits for both
    stack.render_json(target, frm="-10min")
    stack.stop()

As a command (used by tools/demo.sh):

    graphite_stack.py serve DIR [--schemas F] [--aggregation F] [--env-file F]
                            [--graphite-web-fix]

starts both, writes CARBON_PORT=, GRAPHITE_URL=, ... to the env file, and
runs until SIGTERM or SIGINT, then stops both. --graphite-web-fix runs a
copy of Debian's graphite-web (DIR/graphite-web) fixed with
graphs/graphite/graphite-web-fix, laid out as Debian runs it (see
GraphiteStack's `static`), so that its dashboard pages work in a browser. Standard library only.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PYTHON = "/usr/bin/python3"  # Debian's graphite, carbon and django modules
CARBON_CACHE = "/usr/bin/carbon-cache"
DEBIAN_STATIC = "/usr/share/graphite-web/static"
DEBIAN_WEBAPP = "/usr/lib/python3/dist-packages"  # holds Debian's `graphite` package

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import _pdeathsig as pdeathsig, stop_proc  # noqa: E402  (shared helpers)


def free_tcp_port():
    """A TCP port free on 127.0.0.1 right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def missing_packages():
    """Names of the Debian pieces this stack needs that are not installed."""
    need = [PYTHON, CARBON_CACHE,
            "/usr/lib/python3/dist-packages/graphite/settings.py",
            "/usr/lib/python3/dist-packages/django/__init__.py"]
    return [p for p in need if not os.path.exists(p)]


CARBON_CONF = """[cache]
STORAGE_DIR = {d}/storage/
LOCAL_DATA_DIR = {d}/storage/whisper/
WHITELISTS_DIR = {d}/storage/lists/
CONF_DIR = {d}/conf/
LOG_DIR = {d}/log/carbon/
PID_DIR = {d}/run/
DATABASE = whisper
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
# Write every datapoint at once: whisper files appear within a second.
MAX_UPDATES_PER_SECOND = 100000
MAX_CREATES_PER_MINUTE = inf
CACHE_WRITE_STRATEGY = naive
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line_port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query_port}
USE_FLOW_CONTROL = True
LOG_UPDATES = False
LOG_CREATES = True
LOG_LISTENER_CONN_SUCCESS = False
ENABLE_TAGS = False
CARBON_METRIC_PREFIX = carbon
CARBON_METRIC_INTERVAL = 60
"""

# graphite.settings imports this module (GRAPHITE_SETTINGS_MODULE) before it
# derives its defaults, so every path here wins over Debian's /etc/graphite.
LOCAL_SETTINGS = """# graphite-web settings of one throw-away stack (graphite_stack.py)
SECRET_KEY = {secret!r}
ALLOWED_HOSTS = ['*']
TIME_ZONE = 'UTC'
DEBUG = False
GRAPHITE_ROOT = '/usr/share/graphite-web'
CONF_DIR = {d!r} + '/webapp'
STORAGE_DIR = {d!r} + '/storage'
WHISPER_DIR = {d!r} + '/storage/whisper'
INDEX_FILE = {d!r} + '/storage/index'
LOG_DIR = {d!r} + '/log/webapp'
STATIC_ROOT = {static_root!r}
CARBONLINK_HOSTS = ['127.0.0.1:{query_port}']
CARBONLINK_TIMEOUT = 2.0
DEFAULT_CACHE_DURATION = 0
# A dashboard page asks for all its graphs at once; on a loaded test machine
# the default 6-s fetch timeout fails some of them (PoolTimeoutError).
FETCH_TIMEOUT = 60.0
FIND_TIMEOUT = 60.0
FIND_CACHE_DURATION = 0
FUNCTION_PLUGINS = []
DATABASES = {{'default': {{'NAME': {d!r} + '/webapp/graphite.db',
                          'ENGINE': 'django.db.backends.sqlite3'}}}}
"""

# The Django settings module proper: graphite's, plus the static files of
# Debian's package so that the dashboard UI works without a web server.
DJANGO_SETTINGS = """from graphite.settings import *  # noqa
STATICFILES_DIRS = ({static!r},)
SILENCED_SYSTEM_CHECKS = ['urls.W002', 'models.W042', 'admin.W411']
"""

# The web server: wsgiref (threads) around graphite's WSGI application.
SERVER = """import sys, socketserver, wsgiref.simple_server as ws
import django
django.setup()
from django.core.handlers.wsgi import WSGIHandler
from django.contrib.staticfiles.handlers import StaticFilesHandler

class Server(socketserver.ThreadingMixIn, ws.WSGIServer):
    daemon_threads = True

class Quiet(ws.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s\\n" % (fmt % args))

httpd = ws.make_server('127.0.0.1', int(sys.argv[1]), StaticFilesHandler(WSGIHandler()),
                       server_class=Server, handler_class=Quiet)
print('graphite-web listening on 127.0.0.1:%s' % sys.argv[1], flush=True)
httpd.serve_forever()
"""

# Debian's layout (graphite_stack.GraphiteStack(static=DIR)): Django's
# settings module is graphite.settings, as in /usr/share/graphite-web/
# graphite.wsgi, and /static/ is served straight from DIR, as the
# `Alias /static/ /usr/share/graphite-web/static/` of apache2-graphite.conf
# does: Django's static-file finders play no part in serving.
SERVER_ALIAS = """import mimetypes, os, sys, socketserver, wsgiref.simple_server as ws
import django
django.setup()
from django.core.handlers.wsgi import WSGIHandler

STATIC = os.path.realpath(sys.argv[2])
django_app = WSGIHandler()

def app(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if not path.startswith('/static/'):
        return django_app(environ, start_response)
    f = os.path.realpath(os.path.join(STATIC, path[len('/static/'):]))
    if not f.startswith(STATIC + os.sep) or not os.path.isfile(f):
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'not found']
    with open(f, 'rb') as fh:
        body = fh.read()
    ctype = mimetypes.guess_type(f)[0] or 'application/octet-stream'
    start_response('200 OK', [('Content-Type', ctype), ('Content-Length', str(len(body)))])
    return [body]

class Server(socketserver.ThreadingMixIn, ws.WSGIServer):
    daemon_threads = True

class Quiet(ws.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s\\n" % (fmt % args))

httpd = ws.make_server('127.0.0.1', int(sys.argv[1]), app,
                       server_class=Server, handler_class=Quiet)
print('graphite-web listening on 127.0.0.1:%s, /static/ from %s' % (sys.argv[1], STATIC),
      flush=True)
httpd.serve_forever()
"""


class GraphiteStack:
    """carbon-cache + graphite-web in `workdir`, on free loopback ports."""

    def __init__(self, workdir, schemas=None, aggregation=None, extra_settings="",
                 with_carbon=True, webapp=None, static=None):
        """schemas / aggregation: text put first in storage-schemas.conf and
        storage-aggregation.conf (the shipped snippets); a default rule of 1 s
        points for one day follows in storage-schemas.conf. extra_settings:
        Python lines appended to graphite-web's local settings (for example
        CLUSTER_SERVERS). with_carbon False: graphite-web alone, no
        carbon-cache (a cluster's front end).
        webapp: a directory holding a `graphite` package used instead of
        Debian's (a patched copy), first on PYTHONPATH.
        static: Debian's layout: graphite.settings as Django's settings,
        STATIC_ROOT = static (as /etc/graphite/local_settings.py) and
        /static/ served from that directory (as apache2-graphite.conf)."""
        self.webapp = os.path.abspath(webapp) if webapp else None
        self.static = os.path.abspath(static) if static else None
        self.dir = os.path.abspath(workdir)
        self.schemas = schemas or ""
        self.aggregation = aggregation or ""
        self.extra_settings = extra_settings
        self.with_carbon = with_carbon
        self.line_port = self.pickle_port = self.query_port = self.web_port = None
        self.carbon = self.web = None
        self._logs = []

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.web_port

    def _write(self, rel, text):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def _env(self):
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env["PYTHONPATH"] = os.path.join(self.dir, "webapp")
        if self.webapp:
            env["PYTHONPATH"] = self.webapp + os.pathsep + env["PYTHONPATH"]
        env["GRAPHITE_SETTINGS_MODULE"] = "vq_graphite_local"
        env["DJANGO_SETTINGS_MODULE"] = ("graphite.settings" if self.static
                                         else "vq_graphite_settings")
        return env

    def configure(self):
        """Writes every config file; picks the ports. Returns nothing."""
        for sub in ("storage/whisper", "storage/lists", "log/carbon", "log/webapp", "run",
                    "conf", "webapp"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        ports = set()
        while len(ports) < 4:
            ports.add(free_tcp_port())
        self.line_port, self.pickle_port, self.query_port, self.web_port = sorted(ports)
        d = self.dir
        self._write("conf/carbon.conf", CARBON_CONF.format(
            d=d, line_port=self.line_port, pickle_port=self.pickle_port,
            query_port=self.query_port))
        self._write("conf/storage-schemas.conf", self.schemas +
                    "\n[carbon]\npattern = ^carbon\\.\nretentions = 60s:1d\n"
                    "\n[default]\npattern = .*\nretentions = 1s:1d\n")
        self._write("conf/storage-aggregation.conf", self.aggregation +
                    "\n[default]\npattern = .*\nxFilesFactor = 0\n"
                    "aggregationMethod = average\n")
        secret = os.urandom(16).hex()
        self._write("webapp/vq_graphite_local.py", LOCAL_SETTINGS.format(
            d=d, secret=secret, query_port=self.query_port,
            static_root=self.static or d + "/webapp/static")
            + self.extra_settings)
        self._write("webapp/vq_graphite_settings.py", DJANGO_SETTINGS.format(
            static=DEBIAN_STATIC))
        self._write("webapp/vq_graphite_server.py", SERVER_ALIAS if self.static else SERVER)

    def _spawn(self, name, argv):
        out = open(os.path.join(self.dir, "log", name + ".out"), "ab")
        self._logs.append(out)
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=self._env(), cwd=self.dir,
                                preexec_fn=pdeathsig)

    def _port_open(self, port):
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            return False

    def _wait(self, proc, ok, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("%s exited with status %s:%s" % (
                    what, proc.returncode, self.tail(what)))
            if ok():
                return
            time.sleep(0.1)
        raise RuntimeError("%s not ready after %d s:%s" % (what, timeout, self.tail(what)))

    def tail(self, name, n=15):
        """The last n lines of a daemon's output, indented, for messages."""
        try:
            with open(os.path.join(self.dir, "log", name + ".out"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        return "\n    " + "\n    ".join(lines[-n:])

    def start(self, timeout=40):
        """Configures, migrates graphite-web's DB, starts both daemons and
        waits until carbon accepts lines and graphite-web answers."""
        bad = missing_packages()
        if bad:
            raise RuntimeError("missing (Debian graphite-carbon graphite-web python3-django): "
                               + " ".join(bad))
        self.configure()
        atexit.register(self.stop)
        if self.with_carbon:
            self._spawn_carbon()
        migrate = subprocess.run([PYTHON, "-m", "django", "migrate", "--run-syncdb", "-v0"],
                                 env=self._env(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=120, preexec_fn=pdeathsig)
        if migrate.returncode != 0:
            raise RuntimeError("graphite-web migrate failed:\n" +
                               migrate.stdout.decode("utf-8", "replace")[-2000:])
        self.web = self._spawn("graphite-web", [
            PYTHON, os.path.join(self.dir, "webapp", "vq_graphite_server.py"),
            str(self.web_port)] + ([self.static] if self.static else []))
        if self.with_carbon:
            self._wait_carbon(timeout)
        self._wait(self.web, lambda: self._get("/version/", 2) is not None, timeout,
                   "graphite-web")
        return self

    def _spawn_carbon(self):
        self.carbon = self._spawn("carbon", [
            PYTHON, CARBON_CACHE, "--config=" + os.path.join(self.dir, "conf", "carbon.conf"),
            "--pidfile=" + os.path.join(self.dir, "run", "carbon-cache.pid"),
            "--nodaemon", "start"])

    def _wait_carbon(self, timeout):
        self._wait(self.carbon, lambda: self._port_open(self.line_port)
                   and self._port_open(self.query_port), timeout, "carbon")

    def stop_carbon(self):
        """Stops carbon-cache alone (SIGTERM to its PID, as a service
        manager does); graphite-web stays up. Returns the exit status."""
        return stop_proc(self.carbon)

    def start_carbon(self, timeout=40):
        """Starts carbon-cache again with the same configuration and ports
        (after stop_carbon); waits until it accepts lines. Returns self."""
        pidfile = os.path.join(self.dir, "run", "carbon-cache.pid")
        if os.path.exists(pidfile):  # twistd refuses to start over a stale one
            os.unlink(pidfile)
        self._spawn_carbon()
        self._wait_carbon(timeout)
        return self

    def stop(self):
        """Stops graphite-web and carbon-cache (idempotent)."""
        for p in (self.web, self.carbon):
            if p is None:
                continue
            try:
                stop_proc(p)
            except Exception:
                pass
        for f in self._logs:
            f.close()
        self._logs = []

    def alive(self):
        procs = (self.carbon, self.web) if self.with_carbon else (self.web,)
        return all(p is not None and p.poll() is None for p in procs)

    # ---- HTTP helpers ---------------------------------------------------------

    def _get(self, path, timeout=20):
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.read()
        except (urllib.error.URLError, OSError):
            return None

    def get(self, path, params=None, timeout=30):
        """GET url+path?params; returns the body (bytes); raises on errors."""
        q = ("?" + urllib.parse.urlencode(params, doseq=True)) if params else ""
        with urllib.request.urlopen(self.url + path + q, timeout=timeout) as r:
            return r.read()

    def post(self, path, fields, timeout=30):
        """POST form fields; returns the body (bytes); raises on errors."""
        data = urllib.parse.urlencode(fields).encode()
        with urllib.request.urlopen(self.url + path, data=data, timeout=timeout) as r:
            return r.read()

    def render_json(self, target, frm="-1h", until="now", extra=None):
        """graphite-web /render?format=json for one target: a list of
        {"target", "datapoints": [[value, ts], ...]}."""
        params = {"target": target, "format": "json", "from": frm, "until": until}
        params.update(extra or {})
        return json.loads(self.get("/render", params).decode("utf-8"))

    def render_png(self, params):
        """graphite-web /render PNG bytes for the given parameters."""
        return self.get("/render", params)

    def expand(self, query):
        """/metrics/expand: the full metric paths matching a glob."""
        body = json.loads(self.get("/metrics/expand", {"query": query}))
        return sorted(body.get("results", []))

    def send_lines(self, lines):
        """Sends plaintext lines ("path value timestamp") to carbon."""
        with socket.create_connection(("127.0.0.1", self.line_port), 5) as s:
            s.sendall("".join(l.rstrip("\n") + "\n" for l in lines).encode())

    def env_lines(self):
        return ["GRAPHITE_DIR=%s" % self.dir, "GRAPHITE_URL=%s" % self.url,
                "CARBON_PORT=%d" % self.line_port, "CARBON_QUERY_PORT=%d" % self.query_port]


def fixed_copy(dest):
    """Copies Debian's graphite package and static files into dest and
    applies graphs/graphite/graphite-web-fix to the copy (nothing under /usr
    changes); returns (webapp dir, static dir) for GraphiteStack."""
    webapp, static = os.path.join(dest, "webapp"), os.path.join(dest, "static")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(os.path.join(DEBIAN_WEBAPP, "graphite"), os.path.join(webapp, "graphite"),
                    symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(DEBIAN_STATIC, static, symlinks=True)
    fix = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "graphs",
                       "graphite", "graphite-web-fix")
    r = subprocess.run([PYTHON, fix, "apply", "--webapp", webapp, "--static", static],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("graphite-web-fix: " + r.stdout.decode("utf-8", "replace"))
    return webapp, static


def _read(path):
    if not path:
        return ""
    with open(path) as f:
        return f.read()


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Run carbon-cache + graphite-web until SIGTERM.")
    ap.add_argument("command", choices=["serve"])
    ap.add_argument("dir")
    ap.add_argument("--schemas", help="storage-schemas.conf snippet put first")
    ap.add_argument("--aggregation", help="storage-aggregation.conf snippet put first")
    ap.add_argument("--env-file", help="write GRAPHITE_URL=, CARBON_PORT=, ... here")
    ap.add_argument("--graphite-web-fix", action="store_true",
                    help="Debian's layout (/static/ as apache2-graphite.conf serves it) "
                    "with a copy of graphite-web fixed by graphs/graphite/graphite-web-fix")
    a = ap.parse_args(argv)
    webapp = static = None
    if a.graphite_web_fix:
        try:
            webapp, static = fixed_copy(os.path.join(os.path.abspath(a.dir), "graphite-web"))
        except (OSError, RuntimeError) as e:
            print("graphite_stack: %s" % e, file=sys.stderr)
            return 1
    stack = GraphiteStack(a.dir, _read(a.schemas), _read(a.aggregation), webapp=webapp,
                          static=static)
    done = []
    signal.signal(signal.SIGTERM, lambda *_: done.append(1))
    signal.signal(signal.SIGINT, lambda *_: done.append(1))
    try:
        stack.start()
    except RuntimeError as e:
        print("graphite_stack: %s" % e, file=sys.stderr)
        stack.stop()
        return 1
    if a.env_file:
        tmp = a.env_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(stack.env_lines()) + "\n")
        os.rename(tmp, a.env_file)
    print("graphite_stack: carbon on 127.0.0.1:%d, graphite-web at %s" % (
        stack.line_port, stack.url), flush=True)
    while not done and stack.alive():
        time.sleep(0.2)
    rc = 0 if done else 1
    if not done:
        print("graphite_stack: a daemon exited:%s%s" % (stack.tail("carbon"),
                                                        stack.tail("graphite-web")),
              file=sys.stderr)
    stack.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
