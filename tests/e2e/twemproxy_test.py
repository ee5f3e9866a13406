#!/usr/bin/python3
"""Two memtwin pairs behind twemproxy (nutcracker), each pair behind its own HAProxy, through
node failures.

    /usr/bin/python3 tests/e2e/twemproxy_test.py MEMTWIN_BINARY

The topology of tools/deploy/README.md "pairs + twemproxy", all on free 127.0.0.1 ports: four
nodes from memtwin.service + memtwin.env.example, one HAProxy per pair from haproxy.cfg, and
nutcracker (Debian's, ketama, auto_eject_hosts: false) from nutcracker.yml with each pair's
HAProxy as one server. A pymemcache client writes sequential keys and reads them (its own
writes, and older keys on the same and on fresh connections) through nutcracker while the test
SIGKILLs and restarts node A of pair 1, then A of pair 2, then B of pair 1, then B of pair 2
(each time the node nutcracker's connection is on), waiting until each is back. Checks:
  - each client sees errors only just after a kill (at most 3 per kill), and its longest wait
    for an answer around a kill stays under MAX_FAILOVER_SECONDS;
  - no write acknowledged more than 1 s before a kill is missing: not in reads during the run,
    not through nutcracker at the end, not on either node of its pair;
  - a restarted node holds its pair's earlier writes the moment its client port opens;
  - every key lives on exactly one pair (nothing was remapped) and both pairs got a fair share;
  - both nodes of each pair end identical; no process died other than the ones killed.
Fails (never skips) if haproxy or nutcracker is not installed.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as e2e  # noqa: E402

from pymemcache.client.base import Client  # noqa: E402

RUN_DEADLINE_SECONDS = 160  # CTest's TIMEOUT is 180
MAX_FAILOVER_SECONDS = 6.0


def keys_through(port, keys, batch=100):
    client = Client((e2e.HOST, port), connect_timeout=e2e.IO_TIMEOUT, timeout=e2e.IO_TIMEOUT,
                    no_delay=True)
    try:
        out = {}
        for i in range(0, len(keys), batch):
            out.update(client.get_many(keys[i:i + batch]))
        return out
    finally:
        client.close()


def run(binary, workdir):
    p1a, p1b = e2e.start_pair("pair1", binary, workdir)
    p2a, p2b = e2e.start_pair("pair2", binary, workdir)
    lb1 = e2e.HAProxy("haproxy1", workdir, p1a, p1b)
    lb2 = e2e.HAProxy("haproxy2", workdir, p2a, p2b)
    for lb in (lb1, lb2):
        lb.wait_status("a", "UP", 10)
        lb.wait_status("b", "UP", 10)
    proxy = e2e.Nutcracker(workdir, lb1, lb2)

    workload = e2e.Workload(proxy.port, "t")
    t_begin = time.monotonic()
    workload.start()
    workload.wait_acked_after(t_begin, 1.5, 20)
    kills, drill, problems = [], [], []
    for victim, survivor, lb, server in ((p1a, p1b, lb1, "a"), (p2a, p2b, lb2, "a"),
                                         (p1b, p1a, lb1, "b"), (p2b, p2a, lb2, "b")):
        drill.append(e2e.kill_and_restart(victim, survivor, lb, server, workload, kills))
    workload.finish()
    t_end = time.monotonic()

    for name, proc in (("pair1-a", p1a.proc), ("pair1-b", p1b.proc), ("pair2-a", p2a.proc),
                       ("pair2-b", p2b.proc), ("haproxy1", lb1.proc), ("haproxy2", lb2.proc),
                       ("nutcracker", proxy.proc)):
        if proc.poll() is not None:
            problems.append("%s died during the run" % name)

    lines, gaps = [], []
    for who, oks in (("writer", workload.ok_times), ("fresh-reader", workload.fresh_ok_times)):
        l, g, p = e2e.failovers(who, kills, oks, workload.errors, MAX_FAILOVER_SECONDS)
        lines += l
        gaps += g
        problems += p
    p, tolerated_misses = e2e.check_reads(workload, kills)
    problems += p

    n = workload.count()
    keys = [workload.key(i) for i in range(n)]
    compared, differences = 0, 0
    for a, b in ((p1a, p1b), (p2a, p2b)):
        diffs, c = e2e.wait_identical(a, b, keys, 20)
        compared += c
        differences += len(diffs)
        problems += ["%s/%s differ: %s" % (a.name, b.name, d) for d in diffs[:20]]

    # Where each key is: on exactly one pair, on both of its nodes, and through nutcracker.
    kill_times = [k for _, k in kills]
    held = [e2e.gets_many(node.port, keys) for node in (p1a, p1b, p2a, p2b)]
    through = keys_through(proxy.port, keys)
    per_pair = [0, 0]
    lost = 0
    for i, key in enumerate(keys):
        on = [key in h for h in held]
        expected = e2e.value_for(workload.tag, i)
        if not any(on) and key not in through and e2e.tolerated_loss(workload.acked[i],
                                                                      kill_times):
            lost += 1
            continue
        if on[0:2] == [True, True] and on[2:4] == [False, False]:
            per_pair[0] += 1
        elif on[0:2] == [False, False] and on[2:4] == [True, True]:
            per_pair[1] += 1
        else:
            problems.append("%s (acknowledged %.3f s after start) is on pair1 a/b %s, pair2 a/b %s"
                            % (key, workload.acked[i] - e2e.T0, on[0:2], on[2:4]))
            continue
        if through.get(key) != expected:
            problems.append("%s not readable through nutcracker" % key)
        for h in held:
            if key in h and (h[key][0] != expected or h[key][1] != i % 65536):
                problems.append("%s has a wrong value or flags" % key)
    for pair, count in enumerate(per_pair):
        if count < n // 4:
            problems.append("pair%d holds only %d of %d keys" % (pair + 1, count, n))

    print("== twemproxy summary")
    print("%d writes, %d reads in %.1f s through nutcracker; %d client errors (all listed below)"
          % (n, workload.reads, t_end - t_begin, len(workload.errors)))
    for line in drill:
        print("  " + line)
    for line in lines:
        print("  " + line)
    print("  failover gap: max %.0f ms over %d client/kill pairs"
          % (max(gaps) * 1000 if gaps else -1, len(gaps)))
    for t, who, what in workload.errors:
        print("  error at %7.3f s (%s): %s" % (t - e2e.T0, who, what))
    print("keys per pair: %d / %d; writes lost within %.0f s before a kill (allowed): %d; "
          "misses read for them: %d" % (per_pair[0], per_pair[1], e2e.REPLICATION_INTERVAL,
                                        lost, tolerated_misses))
    print("both nodes of each pair compared over %d keys in all: %s"
          % (compared, "identical" if not differences else "%d differences" % differences))
    if problems:
        raise AssertionError("%d problems:\n  %s" % (len(problems), "\n  ".join(problems[:50])))
    print("PASS")


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: twemproxy_test.py MEMTWIN_BINARY")
    e2e.require_tool(e2e.HAPROXY, "haproxy")
    e2e.require_tool(e2e.NUTCRACKER, "nutcracker")
    binary = os.path.abspath(sys.argv[1])
    e2e.run_main("twemproxy", lambda workdir: run(binary, workdir), RUN_DEADLINE_SECONDS)


if __name__ == "__main__":
    main()
