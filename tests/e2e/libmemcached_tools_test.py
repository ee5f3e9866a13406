#!/usr/bin/python3
"""libmemcached's command-line tools (Debian's libmemcached-tools 1.1.4) against a memtwin pair
behind HAProxy.

    /usr/bin/python3 tests/e2e/libmemcached_tools_test.py MEMTWIN_BINARY PAIRCHECK_BINARY

A pair from tools/deploy/memtwin.service + memtwin.env.example and an HAProxy from
tools/deploy/haproxy.cfg, on free 127.0.0.1 ports. Writes go through HAProxy (to node A), reads
go to node B directly, so every check also shows that the write reached the peer:
  - memcp (Debian installs it as memccp) copies a text file, a 200 KB binary file and an empty
    file with --flags; memccat on B returns each byte for byte (--file), and the flags (-F);
  - memcexist, memcrm, memctouch, memcping, memcflush: their exit codes, and their effect seen
    on B;
  - memcslap set, get and mget runs finish, and node A's counters show every request (gets all
    hits);
  - memcstat on both nodes: version, items, `--args=replication` (one MASTER, one SLAVE, both
    streaming), `--analyze` over both;
  - tools/paircheck finds the two nodes identical after the writes and after the flush.
  - memcdump (`stats items` + `stats cachedump`) on node B lists every item once.
Fails (never skips) when a tool is missing.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as e2e  # noqa: E402

RUN_DEADLINE_SECONDS = 100  # CTest's TIMEOUT is 120
TOOL_TIMEOUT = 30
TOOLS = ["memccp", "memccat", "memcexist", "memcrm", "memctouch", "memcping", "memcflush",
         "memcslap", "memcstat", "memcdump"]


def tool(name, *args, rc=0, cwd=None):
    """Runs /usr/bin/<name> with args; fails unless it exits with rc. Returns its stdout."""
    argv = ["/usr/bin/" + name] + list(args)
    r = subprocess.run(argv, capture_output=True, timeout=TOOL_TIMEOUT, cwd=cwd)
    if r.returncode != rc:
        raise AssertionError("%s exited %d, expected %d\nstdout: %r\nstderr: %r"
                             % (" ".join(argv), r.returncode, rc, r.stdout[-2000:],
                                r.stderr[-2000:]))
    return r.stdout.decode(errors="replace")


def servers(*nodes):
    return "--servers=" + ",".join(n.address for n in nodes)


def memcstat(node, *args):
    """{stat: value} from memcstat's report on one node ("Server: HOST (PORT)" then
    "\\tname: value" lines)."""
    out = tool("memcstat", servers(node), *args)
    lines = out.splitlines()
    if not lines or lines[0] != "Server: 127.0.0.1 (%d)" % node.port:
        raise AssertionError("memcstat: unexpected first line: %r" % out[:200])
    stats = {}
    for line in lines[1:]:
        m = re.fullmatch(r"\t(\S+): (.*)", line)
        if not m:
            raise AssertionError("memcstat: unexpected line %r" % line)
        stats[m.group(1)] = m.group(2)
    return stats


def paircheck(binary, a, b):
    """Polls tools/paircheck until it finds a and b identical (replication is asynchronous)."""
    last = [None]

    def identical():
        r = subprocess.run([binary, a.address, b.address], capture_output=True, text=True,
                           timeout=TOOL_TIMEOUT)
        last[0] = r
        return r.returncode == 0

    try:
        e2e.wait_for("paircheck to find %s and %s identical" % (a.name, b.name), identical, 15,
                     interval=0.2)
    except AssertionError:
        raise AssertionError("paircheck %s %s exited %d:\n%s%s"
                             % (a.address, b.address, last[0].returncode, last[0].stdout[-3000:],
                                last[0].stderr[-3000:]))
    return last[0].stdout.strip().splitlines()[-1] if last[0].stdout.strip() else "identical"


def counters(node):
    s = node.stats()
    return {k: int(s[k]) for k in ("cmd_set", "cmd_get", "get_hits", "get_misses")}


def memcslap(lb, test, n, concurrency=2):
    """Runs memcslap --test=test through HAProxy; returns the number of requests it reports."""
    out = tool("memcslap", "--servers=127.0.0.1:%d" % lb.port, "--test=" + test,
               "--concurrency=%d" % concurrency, "--execute-number=%d" % n)
    m = re.search(r"Time to %s\s+(\d+) keys by\s+(\d+) threads" % test, out)
    if not m:
        raise AssertionError("memcslap --test=%s printed no result line:\n%s" % (test, out))
    if int(m.group(1)) != n * concurrency or int(m.group(2)) != concurrency:
        raise AssertionError("memcslap --test=%s: %s" % (test, m.group(0)))
    return int(m.group(1)), out


def exists(node, key):
    """memcexist's verdict: True (exit 0), False (exit 1); anything else fails."""
    r = subprocess.run(["/usr/bin/memcexist", servers(node), key], capture_output=True,
                       timeout=TOOL_TIMEOUT)
    if r.returncode not in (0, 1):
        raise AssertionError("memcexist %s on %s exited %d: %r"
                             % (key, node.name, r.returncode, r.stderr))
    return r.returncode == 0


def run(binary, paircheck_binary, workdir):
    a, b = e2e.start_pair("tools", binary, workdir)
    lb = e2e.HAProxy("haproxy", workdir, a, b)
    lb.wait_status("a", "UP", 10)
    via_lb = "--servers=127.0.0.1:%d" % lb.port
    report = []

    # --- memcp / memccat ---------------------------------------------------------------------
    files = {"alpha.txt": b"hello from memcp\n", "beta.bin": os.urandom(200 * 1024),
             "empty": b""}
    for name, data in files.items():
        with open(os.path.join(workdir, name), "wb") as f:
            f.write(data)
    tool("memccp", via_lb, "--flags=42", *files, cwd=workdir)
    for name, data in files.items():
        out_path = os.path.join(workdir, name + ".out")
        e2e.wait_for("%s on node B" % name,
                     lambda: exists(b, name), 10)
        tool("memccat", servers(b), "--file=" + out_path, name)
        with open(out_path, "rb") as f:
            got = f.read()
        if got != data:
            raise AssertionError("memccat %s from node B: %d bytes, expected %d (or different "
                                 "bytes)" % (name, len(got), len(data)))
        flags = tool("memccat", servers(b), "-F", name).split("\n", 1)[0]
        if flags != "42":
            raise AssertionError("memccat -F %s from node B: flags %r, expected 42"
                                 % (name, flags))
    text = tool("memccat", servers(a), "alpha.txt")
    if text != "hello from memcp\n\n":  # memccat adds a newline after each value
        raise AssertionError("memccat alpha.txt from node A printed %r" % text)
    tool("memccat", servers(b), "no-such-key", rc=1)
    report.append("memcp: %d files (%s bytes) through HAProxy, read back byte for byte with "
                  "flags 42 by memccat on node B"
                  % (len(files), "/".join(str(len(d)) for d in files.values())))

    # --- memcexist / memcrm / memctouch / memcping ------------------------------------------
    tool("memcexist", servers(b), "alpha.txt")
    tool("memcexist", servers(b), "no-such-key", rc=1)
    tool("memctouch", via_lb, "--expire=3600", "beta.bin")
    tool("memcrm", via_lb, "alpha.txt")
    e2e.wait_for("memcrm's delete to reach node B",
                 lambda: not exists(b, "alpha.txt"), 10)
    tool("memcexist", servers(b), "beta.bin")  # touched, still there
    for node in (a, b):
        tool("memcping", servers(node))
    tool("memcping", "--servers=127.0.0.1:%d" % e2e.free_port(), rc=1)
    report.append("memcexist/memcrm/memctouch/memcping: exit codes as for memcached; the "
                  "delete reached node B")

    # --- memcslap -----------------------------------------------------------------------------
    for test, n in (("set", 3000), ("get", 3000), ("mget", 1000)):
        before = counters(a)
        requests, _ = memcslap(lb, test, n)
        after = counters(a)
        delta = {k: after[k] - before[k] for k in after}
        if test == "set":
            if delta["cmd_set"] < requests:
                raise AssertionError("memcslap set: node A counted %d sets, memcslap sent %d"
                                     % (delta["cmd_set"], requests))
        else:
            if delta["get_hits"] < requests or delta["get_misses"] != 0:
                raise AssertionError("memcslap %s: node A counted %d hits and %d misses for %d "
                                     "keys read" % (test, delta["get_hits"],
                                                    delta["get_misses"], requests))
        report.append("memcslap --test=%s: %d keys by 2 threads; node A: %d sets, %d hits, "
                      "%d misses" % (test, requests, delta["cmd_set"], delta["get_hits"],
                                     delta["get_misses"]))

    # --- the pair holds the same items ---------------------------------------------------------
    report.append("paircheck after the writes: %s" % paircheck(paircheck_binary, a, b))

    # --- memcdump -----------------------------------------------------------------------------
    dumped = tool("memcdump", servers(b)).split()
    listed = set(e2e.metadump_keys(b.port))
    if "beta.bin" not in dumped or len(dumped) != len(set(dumped)) or set(dumped) != listed:
        raise AssertionError("memcdump on node B: %d keys (%d distinct, beta.bin %s); "
                             "lru_crawler metadump lists %d; only in memcdump: %r; only in "
                             "metadump: %r" % (len(dumped), len(set(dumped)),
                                               "listed" if "beta.bin" in dumped else "missing",
                                               len(listed), sorted(set(dumped) - listed)[:5],
                                               sorted(listed - set(dumped))[:5]))
    report.append("memcdump on node B: %d keys, the same as lru_crawler metadump" % len(dumped))

    # --- memcstat -----------------------------------------------------------------------------
    roles = {}
    items = []
    for node in (a, b):
        s = memcstat(node)
        for key in ("pid", "uptime", "curr_items", "total_items", "bytes", "curr_connections",
                    "limit_maxbytes", "threads"):
            if not re.fullmatch(r"\d+", s.get(key, "")):
                raise AssertionError("memcstat %s: %s is %r" % (node.name, key, s.get(key)))
        if not s.get("version", "").startswith("1.6.18-memtwin"):
            raise AssertionError("memcstat %s: version %r" % (node.name, s.get("version")))
        items.append(int(s["curr_items"]))
        r = memcstat(node, "--args=replication")
        if r.get("repl_link_state") != "streaming":
            raise AssertionError("memcstat --args=replication %s: %r" % (node.name, r))
        roles[node.name] = r.get("repl_role")
    if items[0] != items[1] or items[0] < 3000:
        raise AssertionError("memcstat curr_items: %d on A, %d on B" % tuple(items))
    if sorted(roles.values()) != ["MASTER", "SLAVE"]:
        raise AssertionError("memcstat repl_role: %r" % roles)
    analysis = tool("memcstat", servers(a, b), "--analyze")
    if not re.search(r"Number of Servers Analyzed\s+: 2", analysis):
        raise AssertionError("memcstat --analyze:\n%s" % analysis)
    report.append("memcstat: %d items on each node, roles %s, link streaming; --analyze over "
                  "both nodes" % (items[0], "/".join(roles[n.name] for n in (a, b))))

    # --- memcflush ----------------------------------------------------------------------------
    tool("memcflush", via_lb)
    e2e.wait_for("memcflush to reach node B",
                 lambda: not exists(b, "beta.bin"), 10)
    tool("memccat", servers(a), "beta.bin", rc=1)
    report.append("memcflush through HAProxy emptied both nodes; paircheck: %s"
                  % paircheck(paircheck_binary, a, b))

    for node in (a, b):
        if not node.alive():
            raise AssertionError("%s died during the run" % node.name)
    print("== libmemcached tools summary")
    for line in report:
        print("  " + line)
    print("PASS")


def main():
    if len(sys.argv) != 3 or not all(os.access(p, os.X_OK) for p in sys.argv[1:]):
        sys.exit("usage: libmemcached_tools_test.py MEMTWIN_BINARY PAIRCHECK_BINARY")
    for name in TOOLS:
        e2e.require_tool("/usr/bin/" + name, "libmemcached-tools")
    e2e.require_tool(e2e.HAPROXY, "haproxy")
    binary, checker = (os.path.abspath(p) for p in sys.argv[1:])
    e2e.run_main("libmemcached-tools", lambda workdir: run(binary, checker, workdir),
                 RUN_DEADLINE_SECONDS)


if __name__ == "__main__":
    main()
