#!/usr/bin/python3
"""The npm `memcached` client (node-memcached, pinned in tests/e2e/node/package-lock.json)
against a memtwin pair behind HAProxy.

    /usr/bin/python3 tests/e2e/node_memcached_test.py MEMTWIN_BINARY

Installs the client with `npm ci` from the npm registry into the test's work directory (npm's
cache makes later runs work offline), starts a pair from tools/deploy/memtwin.service +
memtwin.env.example and an HAProxy from tools/deploy/haproxy.cfg on free 127.0.0.1 ports, and
runs tests/e2e/node/memcached_client_test.js through HAProxy: every command node-memcached has
(set/get of strings, JSON, numbers and buffers, add, replace, gets/cas, append, prepend,
incr/decr, touch, del, getMulti, version, stats), with node-memcached's own view of success and
failure. Then every key the script left behind must be on both nodes with the bytes and flags
the script expects, the deleted key on neither, and the two nodes identical.

Fails (never skips) when node or npm is missing or npm cannot install the client: it needs the
npm registry, or a cache filled by an earlier run.

memjs, the other npm client, speaks only the binary protocol: node_memjs_test.py tests it.
"""

import base64
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as e2e  # noqa: E402

RUN_DEADLINE_SECONDS = 160  # CTest's TIMEOUT is 180
NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
SCRIPT = "memcached_client_test.js"
NPM_TIMEOUT = 120


def install_client(workdir):
    """npm ci of tests/e2e/node/package-lock.json into workdir; returns the installed version."""
    npm = shutil.which("npm")
    if npm is None:
        e2e.fail("npm is missing: install the Debian packages nodejs and npm "
                 "(tools/lib/packages.sh)")
    for name in ("package.json", "package-lock.json", SCRIPT):
        shutil.copy(os.path.join(NODE_DIR, name), workdir)
    try:
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
                           cwd=workdir, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("npm ci did not finish within %d s (is the npm registry reachable?)"
                             % NPM_TIMEOUT)
    if r.returncode != 0:
        raise AssertionError("npm ci failed (exit %d; the npm registry must be reachable, or "
                             "npm's cache filled by an earlier run):\n%s%s"
                             % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    with open(os.path.join(workdir, "node_modules", "memcached", "package.json")) as f:
        return json.load(f)["version"]


def run(binary, workdir):
    node = e2e.require_tool("/usr/bin/node", "nodejs")
    version = install_client(workdir)
    a, b = e2e.start_pair("node", binary, workdir)
    lb = e2e.HAProxy("haproxy", workdir, a, b)
    lb.wait_status("a", "UP", 10)

    r = subprocess.run([node, os.path.join(workdir, SCRIPT), str(lb.port)], cwd=workdir,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("the node-memcached script failed (exit %d):\n%s%s"
                             % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    left = json.loads(r.stdout.strip().splitlines()[-1])["items"]
    expected = {k: (base64.b64decode(v["value"]), v["flags"]) for k, v in left.items()}

    e2e.wait_for("node B to hold every key the client left",
                 lambda: len(e2e.gets_many(b.port, expected)) == len(expected), 10)
    problems, compared = e2e.pair_problems(a, b, expected, ("node:deleted", "node:missing"))
    if problems:
        raise AssertionError("%d problems:\n  %s" % (len(problems), "\n  ".join(problems)))
    print("== node-memcached summary")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
    print("  npm memcached %s (node %s) through HAProxy: every check of %s passed"
          % (version, node_version, SCRIPT))
    print("  %d keys it left are on both nodes with its bytes and flags; nodes identical over %d "
          "keys" % (len(expected), compared))
    print("PASS")


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: node_memcached_test.py MEMTWIN_BINARY")
    e2e.require_tool("/usr/bin/node", "nodejs")
    e2e.require_tool(e2e.HAPROXY, "haproxy")
    binary = os.path.abspath(sys.argv[1])
    e2e.run_main("node-memcached", lambda workdir: run(binary, workdir), RUN_DEADLINE_SECONDS)


if __name__ == "__main__":
    main()
