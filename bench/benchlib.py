# SPDX-License-Identifier: MIT
"""benchlib.py: what the bench/ scripts share (a free port, the head of a
benchmark collectd.conf, starting and stopping collectd)."""
import os
import shutil
import socket
import subprocess
import time


def free_port():
    """Returns a UDP port free on 127.0.0.1 right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def collectd_head(d, write_threads=5):
    """Returns the start of a collectd.conf for a benchmark collectd whose
    files live in d: global options, logfile (d/log) and csv (d/csv)."""
    return """Hostname "bench"
FQDNLookup false
Interval 1
WriteThreads {wt}
BaseDir "{d}"
PIDFile "{d}/pid"
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "{d}/log"
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "{d}/csv"
  StoreRates false
</Plugin>
""".format(wt=write_threads, d=d)


def stop_collectd(proc, d):
    """Stops the collectd process proc (SIGTERM, then SIGKILL after 20 s)
    and removes its directory d."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(d, ignore_errors=True)


def start_collectd(conf, d, env=None, preexec_fn=None):
    """Starts collectd -f -C conf and waits until its log (d/log) says
    that initialisation is complete. Returns the process; raises
    RuntimeError when it did not start within 10 s."""
    proc = subprocess.Popen(["collectd", "-f", "-C", conf], env=env, preexec_fn=preexec_fn,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = os.path.join(d, "log")
    for _ in range(100):
        if os.path.exists(log) and "Initialization complete" in open(log).read():
            return proc
        time.sleep(0.1)
    stop_collectd(proc, d)
    raise RuntimeError("collectd did not start")
