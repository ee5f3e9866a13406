#!/usr/bin/python3
"""A memtwin pair behind HAProxy, with a plain pymemcache client, through node failures.

    /usr/bin/python3 tests/e2e/haproxy_failover_test.py MEMTWIN_BINARY

Starts two nodes from tools/deploy/memtwin.service + memtwin.env.example and HAProxy (Debian's
haproxy, foreground) from tools/deploy/haproxy.cfg, all on free 127.0.0.1 ports. A client writes
sequential keys and reads them (its own writes, and older keys on the same and on fresh
connections) through HAProxy while the test SIGKILLs node A, restarts it with the same command
line once the survivor has served alone, waits until it is back (bulk sync, client port open,
HAProxy UP, pair streaming), then does the same to node B; twice. Checks:
  - each client sees errors only just after a kill (at most 3 per kill: the request in flight
    and retries racing the health check), and its longest wait for an answer around a kill,
    the failover gap, stays under MAX_FAILOVER_SECONDS;
  - no write acknowledged more than 1 s before a kill is missing, neither in reads during the
    run nor on either node at the end; every value and flag is the one written;
  - a restarted node holds every write acknowledged before its restart the moment its client
    port opens (the port opens only after the bulk sync);
  - both nodes end identical (every key either lists, value, flags and CAS);
  - no process died other than the ones killed.
Prints a summary: writes, reads, errors, failover gaps, sync and health-check timings.
Fails (never skips) if haproxy is not installed. Bounded by an alarm below CTest's TIMEOUT.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as e2e  # noqa: E402

RUN_DEADLINE_SECONDS = 160  # CTest's TIMEOUT is 180
MAX_FAILOVER_SECONDS = 5.0
# A then B, twice: the second round fails over onto nodes that have rejoined.
ROUNDS = 2


def run(binary, workdir):
    unit_check = e2e.systemd_verify(binary, workdir)
    a, b = e2e.start_pair("node", binary, workdir)
    lb = e2e.HAProxy("haproxy", workdir, a, b)
    lb.wait_status("a", "UP", 10)
    lb.wait_status("b", "UP", 10)

    workload = e2e.Workload(lb.port, "k")
    t_begin = time.monotonic()
    workload.start()
    workload.wait_acked_after(t_begin, 1.5, 20)
    kills, drill, problems = [], [], []
    for _ in range(ROUNDS):
        for victim, survivor, server in ((a, b, "a"), (b, a, "b")):
            drill.append(e2e.kill_and_restart(victim, survivor, lb, server, workload, kills))
    workload.finish()
    t_end = time.monotonic()

    for proc_name, alive in (("node-a", a.alive()), ("node-b", b.alive()),
                             ("haproxy", lb.proc.poll() is None)):
        if not alive:
            problems.append("%s died during the run" % proc_name)

    lines, gaps = [], []
    for who, oks in (("writer", workload.ok_times), ("fresh-reader", workload.fresh_ok_times)):
        l, g, p = e2e.failovers(who, kills, oks, workload.errors, MAX_FAILOVER_SECONDS)
        lines += l
        gaps += g
        problems += p
    p, tolerated_misses = e2e.check_reads(workload, kills)
    problems += p

    keys = [workload.key(i) for i in range(workload.count())]
    diffs, compared = e2e.wait_identical(a, b, keys, 20)
    problems += ["nodes differ: %s" % d for d in diffs[:20]]
    p, lost = e2e.check_written_keys(workload, (a, b), kills)
    problems += p

    print("== haproxy failover summary")
    print("%d writes, %d reads in %.1f s through HAProxy; %d client errors (all listed below)"
          % (workload.count(), workload.reads, t_end - t_begin, len(workload.errors)))
    for line in drill:
        print("  " + line)
    for line in lines:
        print("  " + line)
    print("  failover gap: max %.0f ms over %d client/kill pairs"
          % (max(gaps) * 1000 if gaps else -1, len(gaps)))
    for t, who, what in workload.errors:
        print("  error at %7.3f s (%s): %s" % (t - e2e.T0, who, what))
    print("writes lost within %.0f s before a kill (allowed): %d; misses read for them: %d"
          % (e2e.REPLICATION_INTERVAL, len(lost), tolerated_misses))
    print("nodes compared over %d keys: %s" % (compared, "identical" if not diffs else
                                               "%d differences" % len(diffs)))
    print("memtwin.service: %s" % unit_check)
    if problems:
        raise AssertionError("%d problems:\n  %s" % (len(problems), "\n  ".join(problems[:50])))
    print("PASS")


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: haproxy_failover_test.py MEMTWIN_BINARY")
    e2e.require_tool(e2e.HAPROXY, "haproxy")
    binary = os.path.abspath(sys.argv[1])
    e2e.run_main("haproxy-failover", lambda workdir: run(binary, workdir),
                 RUN_DEADLINE_SECONDS)


if __name__ == "__main__":
    main()
