#!/usr/bin/python3
"""memcached-tool (the stats and dump script Debian's memcached package ships, run with perl)
against a memtwin pair, and against memcached 1.6.18 as the reference for its output.

    /usr/bin/python3 tests/e2e/memcached_tool_test.py MEMTWIN_BINARY

A pair from tools/deploy/memtwin.service + memtwin.env.example on free 127.0.0.1 ports; items of
many sizes (several slab classes), with flags, one with an expiry and keys that metadump must
URL-encode, are written on node A, and memcached-tool reads node B, so what it shows has come
over the replication link. The same items are written to a plain memcached and the same checks
run there, so the expectations are memcached's, not ours:
  - display: its header and one row per slab class in use; the rows' counts add up to the items;
  - stats: every general stat sorted, numbers where memcached has numbers, curr_items, version,
    and on memtwin repcached's `replication` and `repcached_version` lines;
  - settings: maxbytes, maxconns, num_threads, growth_factor, chunk_size, item_size_max as started;
  - dump: one `add KEY FLAGS EXPTIME BYTES` + value per item, identical to what was written
    (keys decoded, absolute expiry for the expiring item, 0 for the others), nothing else;
  - keys (all, and with a limit): one metadump line per item;
  - sizes: per-size counts adding up to the items (memcached 1.6 without -o track_sizes says
    `sizes_status disabled`, as it should).
Fails (never skips) when perl, memcached-tool or memcached is missing.
"""

import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as e2e  # noqa: E402

RUN_DEADLINE_SECONDS = 100  # CTest's TIMEOUT is 120
PERL = "/usr/bin/perl"
MEMCACHED_TOOL = "/usr/share/memcached/scripts/memcached-tool"  # Debian package memcached
MEMCACHED = "/usr/bin/memcached"
EXPIRY = 3600
# The server settings the test starts both with (memtwin's come from memtwin.env.example).
MEMORY_MB, CONNECTIONS, THREADS = 1024, 4096, 4


def items_to_write():
    """{key: (flags, exptime, value)}: 60 values from 10 bytes to about 38 KB, spread over many
    slab classes; keys with characters metadump URL-encodes (memcached-tool decodes them)."""
    items = {}
    for i in range(60):
        size = int(10 * 1.15 ** i)
        items["tool:%02d" % i] = (i * 1000 % 65536, 0, ((b"%02d" % i) * size)[:size])
    items["tool:expiring"] = (7, EXPIRY, b"expires in an hour")
    items["tool:path/with%percent"] = (0, 0, b"slash and percent")
    items["tool:colon:semi;"] = (65535, 0, b"x")
    return items


def write(port, items):
    with e2e.RawConnection(port) as c:
        for key, (flags, exptime, value) in items.items():
            c.send(b"set %s %d %d %d\r\n%s\r\n" % (key.encode(), flags, exptime, len(value), value))
            reply = c.line()
            if reply != b"STORED":
                raise AssertionError("set %s on port %d: %r" % (key, port, reply))


def memcached_tool(port, mode, *args):
    """stdout and stderr of `memcached-tool 127.0.0.1:PORT MODE ARGS` (bytes, str)."""
    r = subprocess.run([PERL, MEMCACHED_TOOL, "127.0.0.1:%d" % port, mode] + list(args),
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("memcached-tool %s exited %d: %r" % (mode, r.returncode, r.stderr))
    return r.stdout, r.stderr.decode(errors="replace")


def check_display(port, n):
    out, _ = memcached_tool(port, "display")
    lines = out.decode().splitlines()
    header = "  #  Item_Size  Max_age   Pages   Count   Full?  Evicted Evict_Time OOM"
    if not lines or lines[0] != header:
        raise AssertionError("display header: %r" % (lines[:1],))
    row = re.compile(r" *(\d+) +(\d+B|\d+\.\dK) +(\d+)s +(\d+) +(\d+) +(yes| no) +(\d+) +(\d+) "
                     r"+(\d+)")
    total, classes = 0, []
    for line in lines[1:]:
        m = row.fullmatch(line)
        if not m:
            raise AssertionError("display row: %r" % line)
        classes.append(int(m.group(1)))
        total += int(m.group(5))
        if int(m.group(4)) < 1:
            raise AssertionError("display row with no pages: %r" % line)
    if total != n or len(classes) < 5 or classes != sorted(classes):
        raise AssertionError("display: %d items in classes %s, expected %d items in >= 5 classes"
                             "\n%s" % (total, classes, n, out.decode()))
    return "%d slab classes, %d items" % (len(classes), total)


def check_stats(port, n, memtwin):
    out, _ = memcached_tool(port, "stats")
    lines = out.decode().splitlines()
    if not re.fullmatch(r"#127\.0\.0\.1:%d +Field +Value" % port, lines[0]):
        raise AssertionError("stats header: %r" % lines[0])
    stats = {}
    for line in lines[1:]:
        m = re.fullmatch(r" *(\S+) +(\S+)", line)
        if not m:
            raise AssertionError("stats line: %r" % line)
        stats[m.group(1)] = m.group(2)
    if list(stats) != sorted(stats):
        raise AssertionError("stats not sorted by name")
    numeric = ["pid", "uptime", "time", "curr_connections", "total_connections", "cmd_get",
               "cmd_set", "get_hits", "get_misses", "curr_items", "total_items", "bytes",
               "limit_maxbytes", "threads", "evictions", "bytes_read", "bytes_written"]
    bad = [k for k in numeric if not re.fullmatch(r"\d+", stats.get(k, ""))]
    if bad:
        raise AssertionError("stats: not numbers: %s" % {k: stats.get(k) for k in bad})
    if int(stats["curr_items"]) != n or int(stats["limit_maxbytes"]) != MEMORY_MB << 20:
        raise AssertionError("stats: curr_items %s (expected %d), limit_maxbytes %s"
                             % (stats["curr_items"], n, stats["limit_maxbytes"]))
    if memtwin:
        if not stats.get("version", "").startswith("1.6.18-memtwin"):
            raise AssertionError("stats: version %r" % stats.get("version"))
        if stats.get("replication") not in ("MASTER", "SLAVE") or "repcached_version" not in stats:
            raise AssertionError("stats: replication %r, repcached_version %r"
                                 % (stats.get("replication"), stats.get("repcached_version")))
    elif not stats.get("version", "").startswith("1.6."):
        raise AssertionError("stats: version %r" % stats.get("version"))
    return "%d stats, version %s%s" % (len(stats), stats["version"],
                                        ", replication %s" % stats["replication"]
                                        if memtwin else "")


def check_settings(port):
    out, _ = memcached_tool(port, "settings")
    settings = dict(re.fullmatch(r" *(\S+) +(\S+)", l).groups()
                    for l in out.decode().splitlines()[1:])
    expected = {"maxbytes": str(MEMORY_MB << 20), "maxconns": str(CONNECTIONS),
                "num_threads": str(THREADS), "growth_factor": "1.25", "chunk_size": "48",
                "item_size_max": "1048576", "cas_enabled": "yes", "evictions": "on"}
    wrong = {k: (settings.get(k), v) for k, v in expected.items() if settings.get(k) != v}
    if wrong:
        raise AssertionError("settings (got, expected): %s" % wrong)
    return "%d settings" % len(settings)


def check_dump(port, items, t_written):
    out, err = memcached_tool(port, "dump")
    if "Dumping memcache contents" not in err:
        raise AssertionError("dump: stderr %r" % err)
    dumped, pos = {}, 0
    while pos < len(out):
        eol = out.index(b"\r\n", pos)
        m = re.fullmatch(rb"add (\S+) (\d+) (-?\d+) (\d+)", out[pos:eol])
        if not m:
            raise AssertionError("dump: unexpected line %r" % out[pos:eol][:100])
        size = int(m.group(4))
        value = out[eol + 2:eol + 2 + size]
        if out[eol + 2 + size:eol + 4 + size] != b"\r\n":
            raise AssertionError("dump: value of %s not followed by CRLF" % m.group(1))
        dumped[m.group(1).decode()] = (int(m.group(2)), int(m.group(3)), value)
        pos = eol + 4 + size
    problems = []
    for key, (flags, exptime, value) in items.items():
        got = dumped.get(key)
        if got is None:
            problems.append("%s missing" % key)
            continue
        if got[0] != flags or got[2] != value:
            problems.append("%s: flags %d, %d bytes (expected %d, %d bytes)"
                            % (key, got[0], len(got[2]), flags, len(value)))
        if exptime == 0 and got[1] != 0:
            problems.append("%s: exptime %d, expected 0" % (key, got[1]))
        if exptime and abs(got[1] - (t_written + exptime)) > 5:
            problems.append("%s: exptime %d, expected about %d"
                            % (key, got[1], t_written + exptime))
    problems += ["%s: not written" % k for k in dumped if k not in items]
    if problems:
        raise AssertionError("dump:\n  " + "\n  ".join(problems))
    return "%d items, %d bytes of values, identical to what was written" % (
        len(dumped), sum(len(v[2]) for v in dumped.values()))


def check_keys(port, items):
    out, _ = memcached_tool(port, "keys")
    line = re.compile(r"key=(\S+) exp=(-?\d+) la=\d+ cas=\d+ fetch=(yes|no) cls=\d+ size=\d+")
    keys = []
    for l in out.decode().splitlines():
        m = line.fullmatch(l)
        if not m:
            raise AssertionError("keys: unexpected line %r" % l)
        keys.append(urllib.parse.unquote(m.group(1)))
    if sorted(keys) != sorted(items):
        raise AssertionError("keys: %d keys listed, differences %s"
                             % (len(keys), sorted(set(keys) ^ set(items))[:10]))
    limited, _ = memcached_tool(port, "keys", "5")
    if len(limited.decode().splitlines()) != 5:
        raise AssertionError("keys 5 listed %d lines" % len(limited.decode().splitlines()))
    return "%d keys, 5 with a limit" % len(keys)


def check_sizes(port, n, memtwin):
    out, _ = memcached_tool(port, "sizes")
    rows = [l.split() for l in out.decode().splitlines()[1:]]
    if not memtwin:
        if rows != [["sizes_status", "disabled"]]:
            raise AssertionError("sizes on memcached: %r" % rows)
        return "disabled (memcached's default)"
    if not all(len(r) == 2 and r[0].isdigit() and r[1].isdigit() for r in rows) or \
            sum(int(r[1]) for r in rows) != n:
        raise AssertionError("sizes: %r (expected counts adding up to %d)" % (rows, n))
    return "%d sizes, %d items" % (len(rows), n)


def check_server(name, port, items, t_written, memtwin):
    n = len(items)
    report = ["%s display: %s" % (name, check_display(port, n)),
              "%s stats: %s" % (name, check_stats(port, n, memtwin)),
              "%s settings: %s" % (name, check_settings(port)),
              "%s dump: %s" % (name, check_dump(port, items, t_written)),
              "%s keys: %s" % (name, check_keys(port, items)),
              "%s sizes: %s" % (name, check_sizes(port, n, memtwin))]
    return report


def run(binary, workdir):
    items = items_to_write()
    report = []

    # The reference: memcached 1.6.18 with the same settings.
    port = e2e.free_port()
    proc = e2e.spawn([MEMCACHED, "-p", str(port), "-U", "0", "-l", e2e.HOST, "-m",
                      str(MEMORY_MB), "-c", str(CONNECTIONS), "-t", str(THREADS)]
                     + (["-u", "root"] if os.geteuid() == 0 else []),
                     os.path.join(workdir, "memcached.log"))
    e2e.wait_for("memcached to listen", lambda: proc.poll() is None and e2e.port_open(port), 15)
    t_written = int(time.time())
    write(port, items)
    report += check_server("memcached", port, items, t_written, memtwin=False)

    a, b = e2e.start_pair("tool", binary, workdir)
    t_written = int(time.time())
    write(a.port, items)
    e2e.wait_for("node B to hold every item written on A",
                 lambda: len(e2e.gets_many(b.port, items)) == len(items), 10)
    report += check_server("memtwin node B", b.port, items, t_written, memtwin=True)

    for node in (a, b):
        if not node.alive():
            raise AssertionError("%s died during the run" % node.name)
    print("== memcached-tool summary")
    for line in report:
        print("  " + line)
    print("PASS")


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: memcached_tool_test.py MEMTWIN_BINARY")
    e2e.require_tool(PERL, "perl-base")
    if not os.path.isfile(MEMCACHED_TOOL):
        e2e.fail("%s is missing: install the Debian package memcached (tools/lib/packages.sh)"
                 % MEMCACHED_TOOL)
    e2e.require_tool(MEMCACHED, "memcached")
    binary = os.path.abspath(sys.argv[1])
    e2e.run_main("memcached-tool", lambda workdir: run(binary, workdir), RUN_DEADLINE_SECONDS)


if __name__ == "__main__":
    main()
