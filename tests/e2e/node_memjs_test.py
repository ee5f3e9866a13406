#!/usr/bin/python3
"""The npm `memjs` client (pinned in tests/e2e/node/package-lock.json), which speaks only
memcached's binary protocol, against the two nodes of a memtwin pair.

    /usr/bin/python3 tests/e2e/node_memjs_test.py MEMTWIN_BINARY

Installs the npm clients the way node_memcached_test.py does (its install_client: `npm ci` of
tests/e2e/node/package-lock.json into the test's work directory), starts a pair from
tools/deploy/memtwin.service + memtwin.env.example on free 127.0.0.1 ports, and runs
tests/e2e/node/memjs_client_test.js with both client ports: what memjs writes through one node
(set of text, of every byte value, of 500 KB, with flags; add, replace, append, prepend,
increment, decrement, touch, delete) it must read through the other, and get misses, refused
adds and replaces and a non-numeric increment must look to memjs as memcached makes them look.
Then every key the script left behind must be on both nodes, read over the text protocol, with
the bytes and flags the script expects, the deleted key on neither, and the two nodes identical.

Fails (never skips) when node or npm is missing or npm cannot install the clients: it needs the
npm registry, or a cache filled by an earlier run.
"""

import base64
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as e2e  # noqa: E402
import node_memcached_test  # noqa: E402  (install_client: the one `npm ci` of the node clients)

RUN_DEADLINE_SECONDS = 160  # CTest's TIMEOUT is 180
SCRIPT = "memjs_client_test.js"


def run(binary, workdir):
    node = e2e.require_tool("/usr/bin/node", "nodejs")
    node_memcached_test.install_client(workdir)
    shutil.copy(os.path.join(node_memcached_test.NODE_DIR, SCRIPT), workdir)
    try:
        with open(os.path.join(workdir, "node_modules", "memjs", "package.json")) as f:
            version = json.load(f)["version"]
    except OSError:
        raise AssertionError("npm ci did not install memjs: is it in tests/e2e/node/"
                             "package-lock.json?")
    a, b = e2e.start_pair("memjs", binary, workdir)

    r = subprocess.run([node, os.path.join(workdir, SCRIPT), str(a.port), str(b.port)],
                       cwd=workdir, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("the memjs script failed (exit %d):\n%s%s"
                             % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    left = json.loads(r.stdout.strip().splitlines()[-1])["items"]
    expected = {k: (base64.b64decode(v["value"]), v["flags"]) for k, v in left.items()}

    problems, compared = e2e.pair_problems(a, b, expected, ("memjs:deleted", "memjs:missing"))
    if problems:
        raise AssertionError("%d problems:\n  %s" % (len(problems), "\n  ".join(problems)))
    print("== memjs summary")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
    print("  npm memjs %s (node %s), writes on each node read on the other: every check of %s "
          "passed" % (version, node_version, SCRIPT))
    print("  %d keys it left are on both nodes with its bytes and flags; nodes identical over %d "
          "keys" % (len(expected), compared))
    print("PASS")


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: node_memjs_test.py MEMTWIN_BINARY")
    e2e.require_tool("/usr/bin/node", "nodejs")
    binary = os.path.abspath(sys.argv[1])
    e2e.run_main("node-memjs", lambda workdir: run(binary, workdir), RUN_DEADLINE_SECONDS)


if __name__ == "__main__":
    main()
