"""Shared pieces of the end-to-end tests: memtwin pairs started from tools/deploy/memtwin.service
and memtwin.env.example, HAProxy and nutcracker started from tools/deploy/haproxy.cfg and
nutcracker.yml (the @PLACEHOLDERS@ filled with free 127.0.0.1 ports), a paced client workload
that retries through failovers and records every error, and a node-by-node comparison.

Every process started here is registered in `started` and killed by `cleanup()`; every wait
polls with a deadline. Runs under /usr/bin/python3 (Debian's python3-pymemcache).
"""

import bisect
import ctypes
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

from pymemcache.client.base import Client

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "tools", "deploy")
HOST = "127.0.0.1"
IO_TIMEOUT = 3.0
# A write acknowledged this long before a kill must survive it (replication is asynchronous:
# younger writes acknowledged by the killed node may be lost, see README "Replication").
REPLICATION_INTERVAL = 1.0
HAPROXY = "/usr/sbin/haproxy"  # Debian package haproxy
NUTCRACKER = "/usr/sbin/nutcracker"  # Debian package nutcracker
# Replies already on their way when SIGKILL is sent can arrive just after it.
KILL_SLACK = 0.05
# Failed requests one client may see per kill: the one in flight on the killed node, and a
# retry or two racing HAProxy's health check. More means the failover is not transparent.
MAX_ERRORS_PER_KILL = 3

T0 = time.monotonic()
started = []  # every subprocess.Popen, for cleanup()
_ports = set()


def fail(message):
    """Ends the run at once, loudly (a missing tool is a failure, never a skip)."""
    sys.stderr.write("FAIL: %s\n" % message)
    sys.exit(1)


def require_tool(path, package):
    if not os.access(path, os.X_OK):
        fail("%s is missing: install the Debian package %s (tools/lib/packages.sh)"
             % (path, package))
    return path


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A 127.0.0.1 port that was free a moment ago, never the same one twice in a run. Taken
    below the kernel's ephemeral range when there is room: a node restarted on its old ports
    must not find one taken as the source port of some outgoing connection (health checks,
    reconnects) while it was down."""
    low, high = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(10000, low) if low > 12000 else rng.randrange(high + 1, 65536)
        if port in _ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
        _ports.add(port)
        return port
    fail("no free port below the ephemeral range %d-%d" % (low, high))


def wait_for(what, predicate, timeout, interval=0.02):
    """Polls predicate() until it returns a true value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def port_open(port):
    try:
        socket.create_connection((HOST, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _die_with_parent():
    """In the child before exec: SIGKILL it if the test process dies (even by SIGKILL, e.g. a
    CTest timeout), so that no server outlives the test."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv, log_path):
    """Starts argv with stdout and stderr appended to log_path. Call from the main thread: the
    death signal follows the thread that forked."""
    log = open(log_path, "ab")
    log.write(("\n=== %s: %s\n" % (time.strftime("%H:%M:%S"), shlex.join(argv))).encode())
    log.flush()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=_die_with_parent)
    log.close()
    started.append(proc)
    return proc


def cleanup():
    for proc in started:
        if proc.poll() is None:
            proc.kill()
    for proc in started:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


HAPROXY_STATE_LINE = re.compile(r"Server |backend |ALERT|WARNING|^===")


def tail(path, lines=40, pattern=None):
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace").splitlines()
    except OSError:
        return "(no %s)" % path
    if pattern is not None:
        text = [l for l in text if pattern.search(l)]
    return "\n".join(text[-lines:])


# ---------------------------------------------------------------------------------------------
# Templates

def render(template_name, values, out_path):
    """Copies tools/deploy/<template_name> to out_path with every @KEY@ replaced by values[KEY].
    A placeholder left over means the template and the tests drifted apart: fail."""
    with open(os.path.join(DEPLOY, template_name)) as f:
        text = f.read()
    for key, value in values.items():
        if "@%s@" % key not in text:
            fail("%s has no placeholder @%s@" % (template_name, key))
        text = text.replace("@%s@" % key, str(value))
    left = sorted(set(re.findall(r"@[A-Z0-9_]+@", text)))
    if left:
        fail("%s: placeholders not filled by the test: %s" % (template_name, ", ".join(left)))
    with open(out_path, "w") as f:
        f.write(text)
    return text


def parse_env_file(text):
    """systemd EnvironmentFile= syntax as used by memtwin.env.example: KEY=value lines, '#'
    comments, optional surrounding quotes."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            fail("bad line in environment file: %r" % line)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def exec_start_argv(unit_text, env):
    """The ExecStart= command of a unit, expanded as systemd does: ${VAR} is one word, $VAR is
    split on whitespace. An unset variable is a failure here (systemd would pass nothing)."""
    lines = [l for l in unit_text.splitlines() if l.startswith("ExecStart=")]
    if len(lines) != 1:
        fail("memtwin.service must have exactly one ExecStart= line")
    argv = []
    for word in shlex.split(lines[0][len("ExecStart="):]):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            if whole.group(1) not in env:
                fail("ExecStart uses $%s, not set in memtwin.env.example" % whole.group(1))
            argv.extend(env[whole.group(1)].split())
            continue

        def braced(m):
            if m.group(1) not in env:
                fail("ExecStart uses ${%s}, not set in memtwin.env.example" % m.group(1))
            return env[m.group(1)]

        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", braced, word))
    return argv


# ---------------------------------------------------------------------------------------------
# memtwin nodes and pairs

class Node:
    """One memtwin node, started with memtwin.service's ExecStart and a rendered env file."""

    def __init__(self, name, binary, workdir, port, repl_port, peer_repl_port):
        self.name = name
        self.port = port
        self.repl_port = repl_port
        self.log = os.path.join(workdir, "%s.log" % name)
        env_text = render("memtwin.env.example",
                          {"CLIENT_PORT": port, "LISTEN_ADDR": HOST, "REPL_PORT": repl_port,
                           "PEER": "%s:%d" % (HOST, peer_repl_port)},
                          os.path.join(workdir, "%s.env" % name))
        with open(os.path.join(DEPLOY, "memtwin.service")) as f:
            argv = exec_start_argv(f.read(), parse_env_file(env_text))
        # -v: sync timings and dial failures in the log. The unit runs as a DynamicUser; a test
        # running as root needs memcached's -u.
        self.argv = [binary] + argv[1:] + ["-v"] + (["-u", "root"] if os.geteuid() == 0 else [])
        self.proc = None

    @property
    def address(self):
        return "%s:%d" % (HOST, self.port)

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        self.proc = spawn(self.argv, self.log)

    def kill(self):
        """SIGKILL; returns the time the signal was sent (monotonic)."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)
        return t

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_serving(self, timeout):
        def ready():
            if not self.alive():
                raise AssertionError("%s exited (%s); log:\n%s"
                                     % (self.name, self.proc.returncode, tail(self.log)))
            return port_open(self.port)
        wait_for("%s to open its client port" % self.name, ready, timeout)

    def stats(self, family=""):
        return stats(self.port, family)


def start_pair(name, binary, workdir, attempts=3):
    """Two nodes naming each other as peers; returns them once both serve and are linked.
    A port taken by someone else between our probe and the node's bind: new ports, again."""
    for attempt in range(attempts):
        ports = [free_port() for _ in range(4)]
        a = Node(name + "-a", binary, workdir, ports[0], ports[2], ports[3])
        b = Node(name + "-b", binary, workdir, ports[1], ports[3], ports[2])
        a.start()
        b.start()
        try:
            a.wait_serving(30)
            b.wait_serving(30)
            wait_linked(a, b, 30)
            return a, b
        except AssertionError:
            for node in (a, b):
                if node.alive():
                    node.kill()
            if attempt + 1 == attempts:
                raise


def link_state(node):
    try:
        return node.stats("replication").get("repl_link_state")
    except OSError:
        return None


def wait_linked(a, b, timeout):
    wait_for("%s and %s to be linked (repl_link_state streaming on both)" % (a.name, b.name),
             lambda: link_state(a) == "streaming" and link_state(b) == "streaming", timeout)


# ---------------------------------------------------------------------------------------------
# Raw text protocol, for stats and the comparison (independent of the client under test)

class RawConnection:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def line(self, terminator=b"\r\n"):
        while True:
            i = self.buf.find(terminator)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(terminator):]
                return out
            self._fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def stats(port, family=""):
    with RawConnection(port) as c:
        c.send(("stats %s\r\n" % family).strip().encode() + b"\r\n")
        out = {}
        while True:
            line = c.line().decode()
            if line == "END":
                return out
            parts = line.split(" ", 2)
            if parts[0] != "STAT" or len(parts) < 3:
                raise AssertionError("bad stats line from port %d: %r" % (port, line))
            out[parts[1]] = parts[2]


def metadump_keys(port):
    """All keys a node holds (lru_crawler metadump all), or None if the node does not support
    it. memcached ends each key line with a bare "\\n" and the final END with "\\r\\n"."""
    with RawConnection(port) as c:
        c.send(b"lru_crawler metadump all\r\n")
        keys = set()
        while True:
            line = c.line(b"\n").rstrip(b"\r").decode()
            if line == "END":
                return keys
            if line.startswith(("ERROR", "CLIENT_ERROR", "SERVER_ERROR")):
                return None
            if not line.startswith("key="):
                raise AssertionError("unexpected metadump line from port %d: %r" % (port, line))
            keys.add(urllib.parse.unquote(line[4:].split(" ", 1)[0]))


def gets_many(port, keys, batch=100):
    """{key: (value, flags, cas)} for the keys the node has."""
    out = {}
    keys = list(keys)
    with RawConnection(port) as c:
        for i in range(0, len(keys), batch):
            c.send(b"gets " + " ".join(keys[i:i + batch]).encode() + b"\r\n")
            while True:
                line = c.line().decode()
                if line == "END":
                    break
                parts = line.split()
                if parts[0] != "VALUE" or len(parts) != 5:
                    raise AssertionError("bad gets reply from port %d: %r" % (port, line))
                data = c.exactly(int(parts[3]) + 2)[:-2]
                out[parts[1]] = (data, int(parts[2]), int(parts[4]))
    return out


def compare_nodes(a, b, expected_keys):
    """Differences between two nodes over every key either lists (metadump) plus expected_keys;
    values, flags and CAS must match. Returns (differences, number of keys compared)."""
    keys = set(expected_keys)
    listed = []
    for node in (a, b):
        dump = metadump_keys(node.port)
        if dump is None:
            # Without metadump a key only one node has and the test never wrote goes unseen:
            # count items instead.
            listed.append(int(node.stats()["curr_items"]))
        else:
            keys |= dump
    items_a, items_b = gets_many(a.port, keys), gets_many(b.port, keys)
    diffs = []
    for key in sorted(keys):
        ia, ib = items_a.get(key), items_b.get(key)
        if ia == ib:
            continue
        if ia is None or ib is None:
            diffs.append("%s: only on %s" % (key, a.name if ib is None else b.name))
        elif ia[0] != ib[0]:
            diffs.append("%s: value differs" % key)
        else:
            diffs.append("%s: flags/cas differ (%s/%s vs %s/%s)"
                         % (key, ia[1], ia[2], ib[1], ib[2]))
    if len(listed) == 2 and listed[0] != listed[1]:
        diffs.append("curr_items differ: %d vs %d" % tuple(listed))
    return diffs, len(keys)


def wait_identical(a, b, expected_keys, timeout):
    """Polls until a and b hold exactly the same items (replication is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        diffs, n = compare_nodes(a, b, expected_keys)
        if not diffs or time.monotonic() >= deadline:
            return diffs, n
        time.sleep(0.2)



def pair_problems(a, b, expected, absent):
    """What is wrong with a pair after a client's run: `expected` maps each key the client left
    to its (value, flags), which both nodes must hold; no node may hold a key in `absent`; the
    nodes must end identical and alive. Returns (problems, keys compared)."""
    problems = []
    for n in (a, b):
        held = gets_many(n.port, sorted(expected) + list(absent))
        for key, (value, flags) in expected.items():
            if key not in held:
                problems.append("%s: %s missing" % (n.name, key))
            elif held[key][:2] != (value, flags):
                problems.append("%s: %s holds flags %d, %r (expected %d, %r)"
                                % (n.name, key, held[key][1], held[key][0][:60], flags,
                                   value[:60]))
        for key in absent:
            if key in held:
                problems.append("%s: %s should not exist" % (n.name, key))
    diffs, compared = wait_identical(a, b, expected, 10)
    problems += ["pair differs: %s" % d for d in diffs[:20]]
    for n in (a, b):
        if not n.alive():
            problems.append("%s died during the run" % n.name)
    return problems, compared


# ---------------------------------------------------------------------------------------------
# HAProxy and nutcracker

class HAProxy:
    """HAProxy from tools/deploy/haproxy.cfg in front of one pair, in the foreground."""

    def __init__(self, name, workdir, node_a, node_b, attempts=3):
        self.name = name
        self.socket_path = os.path.join(workdir, "%s.sock" % name)
        self.cfg = os.path.join(workdir, "%s.cfg" % name)
        self.log = os.path.join(workdir, "%s.log" % name)
        for attempt in range(attempts):  # the port may be taken between probe and bind
            self.port = free_port()
            render("haproxy.cfg", {"LISTEN_ADDR": HOST, "LB_PORT": self.port,
                                   "NODE_A": node_a.address, "NODE_B": node_b.address,
                                   "STATS_SOCKET": self.socket_path}, self.cfg)
            check = subprocess.run([HAPROXY, "-c", "-f", self.cfg], capture_output=True,
                                   text=True, timeout=30)
            if check.returncode != 0:
                fail("haproxy -c rejects the rendered haproxy.cfg:\n%s%s"
                     % (check.stdout, check.stderr))
            self.proc = spawn([HAPROXY, "-f", self.cfg, "-db"], self.log)
            try:
                # HAProxy binds the frontend and the stats socket one after the other: wait
                # for both, or a first `show stat` can find no socket yet.
                wait_for("%s to listen" % name,
                         lambda: self._alive() and port_open(self.port) and self._stats_ready(),
                         15)
                return
            except AssertionError:
                if self.proc.poll() is None:
                    self.proc.kill()
                if attempt + 1 == attempts:
                    raise

    def _alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited; log:\n%s" % (self.name, tail(self.log)))
        return True

    def _stats_ready(self):
        try:
            self.server_status()
            return True
        except OSError:
            return False

    def server_status(self):
        """{'a': 'UP', 'b': 'DOWN', ...} from `show stat` on the stats socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(IO_TIMEOUT)
            s.connect(self.socket_path)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        sv, st = header.index("svname"), header.index("status")
        out = {}
        for line in lines[1:]:
            fields = line.split(",")
            if len(fields) > st and fields[sv] not in ("FRONTEND", "BACKEND"):
                out[fields[sv]] = fields[st]
        return out

    def wait_status(self, server, want, timeout):
        wait_for("%s to see server %s %s" % (self.name, server, want),
                 lambda: self._alive() and self.server_status().get(server) == want, timeout)
        return time.monotonic()


class Nutcracker:
    """nutcracker from tools/deploy/nutcracker.yml in front of two pairs' HAProxies."""

    def __init__(self, workdir, pair1, pair2, attempts=3):
        self.cfg = os.path.join(workdir, "nutcracker.yml")
        self.log = os.path.join(workdir, "nutcracker.log")

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("nutcracker exited; log:\n%s" % tail(self.log))
            return port_open(self.port)

        for attempt in range(attempts):  # the ports may be taken between probe and bind
            self.port = free_port()
            self.stats_port = free_port()
            render("nutcracker.yml", {"LISTEN_ADDR": HOST, "PROXY_PORT": self.port,
                                      "PAIR1": "%s:%d" % (HOST, pair1.port),
                                      "PAIR2": "%s:%d" % (HOST, pair2.port)}, self.cfg)
            check = subprocess.run([NUTCRACKER, "-t", "-c", self.cfg], capture_output=True,
                                   text=True, timeout=30)
            if check.returncode != 0:
                fail("nutcracker -t rejects the rendered nutcracker.yml:\n%s%s"
                     % (check.stdout, check.stderr))
            self.proc = spawn([NUTCRACKER, "-c", self.cfg, "-s", str(self.stats_port),
                               "-a", HOST, "-v", "5"], self.log)
            try:
                wait_for("nutcracker to listen", listening, 15)
                return
            except AssertionError:
                if self.proc.poll() is None:
                    self.proc.kill()
                if attempt + 1 == attempts:
                    raise


def systemd_verify(binary, workdir):
    """`systemd-analyze verify` on memtwin.service (pointed at this build); returns a short
    verdict for the summary. The unit is checked here when systemd-analyze exists; the e2e
    tests start the nodes from its ExecStart line either way."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return "not checked (no systemd-analyze)"
    env_path = os.path.join(workdir, "verify.env")
    open(env_path, "w").close()
    with open(os.path.join(DEPLOY, "memtwin.service")) as f:
        unit = f.read()
    unit = unit.replace("/etc/memtwin/memtwin.env", env_path)
    unit = re.sub(r"^ExecStart=\S+", "ExecStart=" + binary, unit, flags=re.M)
    path = os.path.join(workdir, "memtwin.service")
    with open(path, "w") as f:
        f.write(unit)
    r = subprocess.run([tool, "verify", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("systemd-analyze verify memtwin.service:\n%s%s"
                             % (r.stdout, r.stderr))
    return "systemd-analyze verify ok"


# ---------------------------------------------------------------------------------------------
# The client workload

def value_for(tag, i):
    head = b"%s:%d:" % (tag.encode(), i)
    return head + b"v" * (100 - len(head))


class Workload:
    """Plain pymemcache clients against one endpoint (HAProxy or nutcracker), in threads.

    The writer sets key i (flags = i % 65536), reads it back on the same connection, and reads
    a few older keys, at `rate` iterations per second. The fresh reader opens a new connection
    for every batch of older keys, so it follows the proxy's current choice of node. On any error
    a client records it, closes its connection and retries the same request after a short pause.
    Times are time.monotonic().
    """

    def __init__(self, port, tag, rate=400):
        self.port = port
        self.tag = tag
        self.rate = rate
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = []       # ack time of key i, in order
        self.ok_times = []    # writer: time of every successful request
        self.fresh_ok_times = []
        self.errors = []      # (time, who, what)
        self.misses = []      # (time, who, key index, what was returned)
        self.reads = 0
        self.threads = [threading.Thread(target=self._guard, args=(self._writer,), daemon=True),
                        threading.Thread(target=self._guard, args=(self._fresh_reader,),
                                         daemon=True)]
        self.crash = None

    def key(self, i):
        return "%s:%d" % (self.tag, i)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2 * IO_TIMEOUT + 5)
            if t.is_alive():
                raise AssertionError("a client thread did not stop")
        if self.crash:
            raise AssertionError("client thread crashed: %s" % self.crash)

    def count(self):
        with self.lock:
            return len(self.acked)

    def last_ack(self):
        with self.lock:
            return self.acked[-1] if self.acked else None

    def _guard(self, body):
        try:
            body()
        except Exception as e:  # a bug in the test itself: report it, do not hang
            self.crash = repr(e)
            self.stop.set()

    def _client(self):
        return Client((HOST, self.port), connect_timeout=IO_TIMEOUT, timeout=IO_TIMEOUT,
                      no_delay=True, default_noreply=False)

    def _retry(self, who, client_box, op, ok_list):
        """Runs op(client) until it succeeds or the workload stops; returns (result, ok time)."""
        while not self.stop.is_set():
            try:
                if client_box[0] is None:
                    client_box[0] = self._client()
                result = op(client_box[0])
                t = time.monotonic()
                with self.lock:
                    ok_list.append(t)
                return result, t
            except Exception as e:
                t = time.monotonic()
                with self.lock:
                    self.errors.append((t, who, "%s: %s" % (type(e).__name__, e)))
                if client_box[0] is not None:
                    client_box[0].close()
                    client_box[0] = None
                time.sleep(0.01)
        return None, None

    def _old_keys(self, n, rng):
        """Indexes of n random keys acknowledged at least REPLICATION_INTERVAL ago."""
        with self.lock:
            hi = bisect.bisect_right(self.acked, time.monotonic() - REPLICATION_INTERVAL)
        return [rng.randrange(hi) for _ in range(n)] if hi else []

    def _check(self, who, got, indexes):
        for i in indexes:
            value = got.get(self.key(i)) if isinstance(got, dict) else got
            if value != value_for(self.tag, i):
                with self.lock:
                    self.misses.append((time.monotonic(), who, i, value))

    def _writer(self):
        rng = random.Random(1)
        box = [None]
        i = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            key, value = self.key(i), value_for(self.tag, i)
            _, t = self._retry("writer", box,
                               lambda c: c.set(key, value, flags=i % 65536), self.ok_times)
            if t is None:
                break
            with self.lock:
                self.acked.append(t)
            got, t = self._retry("writer", box, lambda c: c.get(key), self.ok_times)
            if t is None:
                break
            self._check("writer", got, [i])
            old = self._old_keys(3, rng)
            if old:
                got, t = self._retry("writer", box,
                                     lambda c: c.get_many([self.key(j) for j in old]),
                                     self.ok_times)
                if t is None:
                    break
                self._check("writer", got, old)
            with self.lock:
                self.reads += 1 + len(old)
            i += 1
            next_at += 1.0 / self.rate
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # fell behind (a failover): do not burst
        if box[0] is not None:
            box[0].close()

    def _fresh_reader(self):
        rng = random.Random(2)
        while not self.stop.wait(0.05):
            old = self._old_keys(10, rng)
            if not old:
                continue
            box = [None]
            got, t = self._retry("fresh-reader", box,
                                 lambda c: c.get_many([self.key(j) for j in old]),
                                 self.fresh_ok_times)
            if box[0] is not None:
                box[0].close()
            if t is None:
                break
            self._check("fresh-reader", got, old)
            with self.lock:
                self.reads += len(old)

    def wait_acked_after(self, t0, seconds, timeout):
        """Waits until writes have been acknowledged for `seconds` after t0."""
        def done():
            if self.crash is not None:
                raise AssertionError("client thread crashed: %s" % self.crash)
            return (self.last_ack() or 0) >= t0 + seconds
        wait_for("writes acknowledged for %.1f s after the last event" % seconds, done, timeout)


def tolerated_loss(ack_time, kills):
    """True if a write acknowledged at ack_time may be missing: acknowledged within
    REPLICATION_INTERVAL before a kill (possibly by the killed node, not yet streamed)."""
    return any(k - REPLICATION_INTERVAL <= ack_time <= k + KILL_SLACK for k in kills)


def failovers(who, kills, ok_times, errors, max_gap):
    """What one client saw of each kill. Errors are allowed only within max_gap after a kill
    (requests caught by the failover; at most MAX_ERRORS_PER_KILL). "Back after" is the time
    from the kill to the first success after the last of those errors; the longest wait between
    two successes around the kill is the failover gap, and must stay within max_gap.
    Returns (summary lines, failover gaps in seconds, problems)."""
    ok_times = sorted(ok_times)
    errors = [e for e in errors if e[1] == who]
    lines, gaps, problems, windows = [], [], [], []
    for n, (name, k) in enumerate(kills):
        end = min([k + max_gap] + [later for _, later in kills[n + 1:]])
        caught = [t for t, _, _ in errors if k <= t <= end]
        since = max(caught) if caught else k
        i = bisect.bisect_right(ok_times, since)
        if i == len(ok_times):
            problems.append("%s: no successful request after killing %s" % (who, name))
            continue
        gap = ok_times[i] - k
        # The longest wait between two successes from just before the kill to the end of its
        # window: behind twemproxy the first success may come from the other pair while the
        # requests for the hit pair still wait.
        j = bisect.bisect_right(ok_times, k)
        around = ok_times[max(j - 1, 0):bisect.bisect_right(ok_times, end)]
        stall = max([b - a for a, b in zip(around, around[1:])] + [gap])
        windows.append((k, end))
        gaps.append(stall)
        lines.append("%-12s kill %-8s back after %4.0f ms, longest wait %4.0f ms, %d errors"
                     % (who, name, gap * 1000, stall * 1000, len(caught)))
        if stall > max_gap:
            problems.append("%s: failover after killing %s stalled %.2f s (> %.1f s)"
                            % (who, name, stall, max_gap))
        if len(caught) > MAX_ERRORS_PER_KILL:
            problems.append("%s: %d failed requests after killing %s (> %d)"
                            % (who, len(caught), name, MAX_ERRORS_PER_KILL))
    for t, _, what in errors:
        if not any(k <= t <= end for k, end in windows):
            problems.append("%s: error outside any failover window, %.3f s after start: %s"
                            % (who, t - T0, what))
    return lines, gaps, problems


def kill_and_restart(victim, survivor, lb, server, workload, kills):
    """The drill for one node: SIGKILL it while the workload runs through `lb`, wait until
    HAProxy has marked it DOWN, the survivor has noticed and has taken writes alone for a
    second, restart it with the same command line, wait until it serves (after its bulk sync),
    HAProxy has it UP again and the pair streams, then let writes flow for another second.

    The moment its client port opens, the restarted node must already hold every write
    acknowledged before the restart that the survivor holds (the sync began after them).
    Appends (name, kill time) to kills; returns a summary line."""
    t_kill = victim.kill()
    kills.append((victim.name, t_kill))
    t_down = lb.wait_status(server, "DOWN", 10)
    wait_for("%s to notice that %s is gone" % (survivor.name, victim.name),
             lambda: link_state(survivor) != "streaming", 10)
    workload.wait_acked_after(t_kill, 1.0, 20)
    t_restart = time.monotonic()
    with workload.lock:
        before_restart = list(workload.acked)
    victim.start()
    victim.wait_serving(60)
    t_serving = time.monotonic()
    keys = [workload.key(i) for i in range(len(before_restart))]
    items = gets_many(victim.port, keys)
    # Behind twemproxy a pair holds only its share of the keys: the survivor says which.
    expected = gets_many(survivor.port, keys)
    missing = ["%s (acknowledged %.3f s after start)" % (key, before_restart[i] - T0)
               for i, key in enumerate(keys) if key in expected and key not in items]
    if missing:
        raise AssertionError("%s opened its client port without %d of the %d earlier writes its "
                             "peer holds: %s" % (victim.name, len(missing), len(expected),
                                                 ", ".join(missing[:10])))
    t_up = lb.wait_status(server, "UP", 15)
    wait_linked(victim, survivor, 15)
    synced = victim.stats("replication").get("repl_sync_items_received", "?")
    workload.wait_acked_after(t_up, 1.0, 20)
    line = ("%-8s DOWN in HAProxy %4.0f ms after SIGKILL; restarted: serving after %4.0f ms "
            "(bulk sync: %s items received, %d of the survivor's %d earlier writes there at "
            "once), UP in HAProxy after %4.0f ms"
            % (victim.name, (t_down - t_kill) * 1000, (t_serving - t_restart) * 1000, synced,
               len(set(items) & set(expected)), len(expected), (t_up - t_restart) * 1000))
    return line


def check_written_keys(workload, nodes, kills):
    """Every key the workload wrote, on each of `nodes` (the nodes that should hold it), must
    have its value and flags, unless it may be lost (acknowledged just before a kill).
    Returns (problems, indexes of tolerated losses)."""
    problems, lost = [], set()
    n = workload.count()
    keys = [workload.key(i) for i in range(n)]
    kill_times = [k for _, k in kills]
    for node in nodes:
        items = gets_many(node.port, keys)
        for i in range(n):
            item = items.get(keys[i])
            if item is None:
                if tolerated_loss(workload.acked[i], kill_times):
                    lost.add(i)
                else:
                    problems.append("%s: %s missing (acknowledged %.3f s after start)"
                                    % (node.name, keys[i], workload.acked[i] - T0))
            elif item[0] != value_for(workload.tag, i) or item[1] != i % 65536:
                problems.append("%s: %s has a wrong value or flags" % (node.name, keys[i]))
    return problems, lost


def check_reads(workload, kills):
    """Reads during the run: a miss is allowed only for a key that may be lost."""
    problems, tolerated = [], 0
    kill_times = [k for _, k in kills]
    for t, who, i, got in workload.misses:
        if got is None and tolerated_loss(workload.acked[i], kill_times):
            tolerated += 1
        else:
            problems.append("%s read %s %.3f s after start and got %r"
                            % (who, workload.key(i), t - T0,
                               got if got is None else got[:40]))
    return problems, tolerated


def run_main(name, body, deadline_seconds):
    """Runs body(workdir) under an alarm, kills every started process afterwards, keeps the
    work directory (logs, rendered configs) only on failure."""
    def on_alarm(signum, frame):
        raise TimeoutError("%s ran past %d s" % (name, deadline_seconds))

    workdir = tempfile.mkdtemp(prefix="memtwin-%s-" % name)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(deadline_seconds)
    ok = False
    try:
        body(workdir)
        ok = True
    except AssertionError as e:
        print("FAIL: %s" % e)
    except Exception:
        traceback.print_exc()
        print("FAIL: unexpected exception")
    finally:
        signal.alarm(0)
        cleanup()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            for f in sorted(os.listdir(workdir)):
                if f.startswith("haproxy") and f.endswith(".log"):
                    # One line per client connection: show the health check's verdicts.
                    print("---- %s (state changes)\n%s" % (f, tail(os.path.join(workdir, f),
                                                                 pattern=HAPROXY_STATE_LINE)))
                elif f.endswith(".log"):
                    print("---- %s (last lines)\n%s" % (f, tail(os.path.join(workdir, f))))
            print("logs and rendered configs kept in %s" % workdir)
    sys.exit(0 if ok else 1)
