#!/usr/bin/python3
"""pymemcache (Debian's python3-pymemcache 3.5.2) as a client of memtwin over the text protocol.

    /usr/bin/python3 tests/integration/pymemcache_test.py MEMTWIN_BINARY [unittest args...]

Every test starts its own server on a free 127.0.0.1 port and stops it afterwards. The same
tests also run against Debian's memcached 1.6.18 (/usr/bin/memcached) as the reference; where the
two differ on purpose (the largest item, see README) each server's answer is pinned. Every socket
operation has a timeout and the whole run is bounded by an alarm; servers still running at the
end are killed in a finally block. Must run under /usr/bin/python3: python3-pymemcache is
installed for Debian's interpreter only.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import unittest

from pymemcache import exceptions
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

MEMCACHED = "/usr/bin/memcached"
MAX_ITEM_SIZE = 1024 * 1024  # -I 1m, both servers' default
RUN_DEADLINE_SECONDS = 100  # CTest's TIMEOUT is 120
IO_TIMEOUT_SECONDS = 5

_started = []  # every server process this script started, for the final cleanup


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Server:
    """A server process on 127.0.0.1 with a free port; stop() is safe to call twice."""

    def __init__(self, binary, *args):
        user = ["-u", "root"] if os.geteuid() == 0 else []
        # The free port can be taken between our probe and the server's bind: try a few.
        for _ in range(3):
            self.port = _free_port()
            self.proc = subprocess.Popen(
                [binary, "-p", str(self.port), "-U", "0", "-l", "127.0.0.1", *user, *args],
                stdin=subprocess.DEVNULL)
            _started.append(self.proc)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.01)
            _stop(self.proc)
        raise RuntimeError("%s did not start" % binary)

    @property
    def address(self):
        return ("127.0.0.1", self.port)

    def stop(self):
        _stop(self.proc)


def _client(server, **kwargs):
    kwargs.setdefault("default_noreply", False)  # pymemcache's default is noreply for stores
    return Client(server.address, connect_timeout=IO_TIMEOUT_SECONDS,
                  timeout=IO_TIMEOUT_SECONDS, no_delay=True, **kwargs)


class PymemcacheTests:
    """The tests; subclasses name the server binary and its largest-item overhead."""

    binary = None
    server_args = ()
    # The largest value stored with a 1-byte key is MAX_ITEM_SIZE minus this.
    overhead_with_1_byte_key = None

    def start_server(self):
        server = Server(self.binary, *self.server_args)
        self.addCleanup(server.stop)
        return server

    def setUp(self):
        self.server = self.start_server()
        self.mc = _client(self.server)
        self.addCleanup(self.mc.close)

    def test_set_get_and_missing_key(self):
        self.assertTrue(self.mc.set("greeting", b"hello"))
        self.assertEqual(self.mc.get("greeting"), b"hello")
        self.assertIsNone(self.mc.get("nothere"))
        self.assertEqual(self.mc.get("nothere", default=b"dflt"), b"dflt")

    def test_set_many_and_get_many(self):
        values = {"many%d" % i: b"v" * i for i in range(200)}
        self.assertEqual(self.mc.set_many(values), [])  # the keys that failed: none
        got = self.mc.get_many(list(values) + ["absent1", "absent2"])
        self.assertEqual(got, values)
        self.assertEqual(self.mc.get_many([]), {})

    def test_add_replace_append_prepend(self):
        self.assertTrue(self.mc.add("k", b"one"))
        self.assertFalse(self.mc.add("k", b"two"))
        self.assertFalse(self.mc.replace("missing", b"x"))
        self.assertTrue(self.mc.replace("k", b"three"))
        self.assertTrue(self.mc.append("k", b"-tail"))
        self.assertTrue(self.mc.prepend("k", b"head-"))
        self.assertEqual(self.mc.get("k"), b"head-three-tail")
        self.assertFalse(self.mc.append("missing", b"x"))

    def test_gets_and_cas(self):
        self.assertEqual(self.mc.gets("c"), (None, None))
        self.mc.set("c", b"v1")
        value, cas = self.mc.gets("c")
        self.assertEqual(value, b"v1")
        self.assertTrue(self.mc.cas("c", b"v2", cas))  # True: stored
        self.assertFalse(self.mc.cas("c", b"v3", cas))  # False: EXISTS (CAS changed)
        self.assertEqual(self.mc.get("c"), b"v2")
        self.assertIsNone(self.mc.cas("nothere", b"v", cas))  # None: NOT_FOUND
        value, cas2 = self.mc.gets("c")
        self.assertNotEqual(cas2, cas)
        self.assertTrue(self.mc.cas("c", b"v4", cas2))
        got = self.mc.gets_many(["c", "nothere"])
        self.assertEqual(list(got), ["c"])
        self.assertEqual(got["c"][0], b"v4")

    def test_incr_and_decr(self):
        self.mc.set("n", b"10")
        self.assertEqual(self.mc.incr("n", 5), 15)
        self.assertEqual(self.mc.decr("n", 100), 0)  # never below zero
        self.mc.set("max", b"18446744073709551615")
        self.assertEqual(self.mc.incr("max", 2), 1)  # wraps at 2^64
        self.assertIsNone(self.mc.incr("nothere", 1))
        self.assertIsNone(self.mc.decr("nothere", 1))
        self.mc.set("text", b"abc")
        with self.assertRaises(exceptions.MemcacheClientError) as e:
            self.mc.incr("text", 1)
        self.assertIn("non-numeric", str(e.exception))

    def test_touch(self):
        self.mc.set("t", b"x")
        self.assertTrue(self.mc.touch("t", 3600))
        self.assertEqual(self.mc.get("t"), b"x")
        # Over 30 days is an absolute unix time, and 2592001 is long past: expired at once.
        self.assertTrue(self.mc.touch("t", 2592001))
        self.assertIsNone(self.mc.get("t"))
        self.assertFalse(self.mc.touch("nothere", 10))

    def test_delete_and_delete_many(self):
        self.mc.set_many({"d1": b"1", "d2": b"2", "d3": b"3", "keep": b"k"})
        self.assertTrue(self.mc.delete("d1"))
        self.assertFalse(self.mc.delete("d1"))
        self.assertTrue(self.mc.delete_many(["d2", "d3", "never-there"]))
        self.assertEqual(self.mc.get_many(["d1", "d2", "d3", "keep"]), {"keep": b"k"})

    def test_flush_all(self):
        self.mc.set_many({"f%d" % i: b"x" for i in range(50)})
        self.assertTrue(self.mc.flush_all())
        self.assertEqual(self.mc.get_many(["f%d" % i for i in range(50)]), {})

    def test_stats(self):
        self.mc.set("s1", b"abc")
        self.mc.set("s2", b"defg")
        self.mc.get("s1")
        self.mc.get("nothere")
        stats = self.mc.stats()
        self.assertEqual(stats[b"pid"], self.server.proc.pid)
        self.assertTrue(stats[b"version"].startswith(b"1.6."), stats[b"version"])
        self.assertEqual(stats[b"curr_items"], 2)
        self.assertEqual(stats[b"cmd_set"], 2)
        self.assertEqual(stats[b"cmd_get"], 2)
        self.assertEqual(stats[b"get_hits"], 1)
        self.assertEqual(stats[b"get_misses"], 1)
        self.assertEqual(stats[b"threads"], 4)
        self.assertEqual(stats[b"limit_maxbytes"], 64 * 1024 * 1024)
        settings = self.mc.stats("settings")
        self.assertEqual(settings[b"item_size_max"], MAX_ITEM_SIZE)
        self.assertEqual(settings[b"maxconns"], 1024)
        self.assertTrue(settings[b"cas_enabled"])
        self.assertEqual(self.mc.version(), stats[b"version"])

    def test_large_values(self):
        largest = MAX_ITEM_SIZE - self.overhead_with_1_byte_key
        value = b"a" + b"v" * (largest - 2) + b"z"
        self.assertTrue(self.mc.set("L", value))
        self.assertEqual(self.mc.get("L"), value)
        for too_big in (largest + 1, MAX_ITEM_SIZE):
            with self.assertRaises(exceptions.MemcacheServerError) as e:
                self.mc.set("L", b"x" * too_big)
            self.assertIn("object too large for cache", str(e.exception))
        # The refused value was swallowed, the connection is still in step, and the failed set
        # removed the old item (as memcached does).
        self.assertIsNone(self.mc.get("L"))
        self.assertTrue(self.mc.set("after", b"ok"))
        self.assertEqual(self.mc.get("after"), b"ok")

    def test_memtwins_largest_value_is_refused_by_memcached_only(self):
        # memtwin's item header is 19 bytes smaller than memcached's; see README.
        value = b"x" * (MAX_ITEM_SIZE - MemtwinTest.overhead_with_1_byte_key)
        if self.stores_memtwins_largest_value:
            self.assertTrue(self.mc.set("k", value))
            self.assertEqual(self.mc.get("k"), value)
        else:
            with self.assertRaises(exceptions.MemcacheServerError):
                self.mc.set("k", value)

    def test_binary_safe_values_and_key_limits(self):
        values = {"b0": b"a\r\nb", "b1": b"\0", "b2": b"\r\nEND\r\n", "b3": bytes(range(256)) * 4,
                  "empty": b""}
        self.assertEqual(self.mc.set_many(values), [])
        self.assertEqual(self.mc.get_many(list(values)), values)
        self.assertEqual(self.mc.get("empty"), b"")
        self.assertTrue(self.mc.set("k" * 250, b"long"))
        self.assertEqual(self.mc.get("k" * 250), b"long")
        with self.assertRaises(exceptions.MemcacheIllegalInputError):  # pymemcache's own check
            self.mc.set("k" * 251, b"x")

    def test_noreply(self):
        # Nothing is read back for noreply commands, so a mistake would put the connection out
        # of step: every later answer would belong to an earlier command.
        quiet = _client(self.server, default_noreply=True)
        self.addCleanup(quiet.close)
        self.assertTrue(quiet.set("q", b"1"))
        self.assertTrue(quiet.add("q", b"2"))  # NOT_STORED, but not said
        self.assertTrue(quiet.replace("missing", b"x"))
        self.assertTrue(quiet.append("q", b"0"))
        self.assertIsNone(quiet.incr("q", 5, noreply=True))
        self.assertIsNone(quiet.incr("missing", 5, noreply=True))
        self.assertIsNone(quiet.decr("q", 1, noreply=True))
        self.assertTrue(quiet.cas("q", b"x", 1, noreply=True))  # EXISTS, but not said
        self.assertTrue(quiet.touch("q", 3600))
        self.assertTrue(quiet.delete("missing"))
        self.assertEqual(quiet.set_many({"q1": b"a", "q2": b"b"}), [])
        self.assertTrue(quiet.delete_many(["q1"]))
        # Now read on the same connection: the answers must be these, in step.
        self.assertEqual(quiet.get("q"), b"14")
        self.assertEqual(quiet.get_many(["q1", "q2", "missing"]), {"q2": b"b"})
        self.assertTrue(self.mc.version())
        self.assertTrue(quiet.flush_all())
        self.assertIsNone(quiet.get("q"))
        # A raw look: after noreply commands the server sends nothing until "version".
        with socket.create_connection(self.server.address, timeout=IO_TIMEOUT_SECONDS) as s:
            s.sendall(b"set r 0 0 1 noreply\r\nx\r\nadd r 0 0 1 noreply\r\ny\r\n"
                      b"incr r 1 noreply\r\ndelete none noreply\r\nversion\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            self.assertTrue(reply.startswith(b"VERSION 1.6."), reply)

    def test_hash_client_spreads_keys_over_two_servers(self):
        other = self.start_server()
        hc = HashClient([self.server.address, other.address], connect_timeout=IO_TIMEOUT_SECONDS,
                        timeout=IO_TIMEOUT_SECONDS, default_noreply=False, retry_attempts=1,
                        dead_timeout=1)
        self.addCleanup(hc.close)
        values = {"h%d" % i: b"%d" % i for i in range(200)}
        self.assertEqual(hc.set_many(values), [])  # the keys that failed: none
        self.assertEqual(hc.get_many(list(values)), values)
        self.assertEqual(hc.get("h7"), b"7")
        self.assertTrue(hc.delete("h7"))
        self.assertIsNone(hc.get("h7"))
        self.assertEqual(hc.incr("counter", 1), None)
        hc.set("counter", b"41")
        self.assertEqual(hc.incr("counter", 1), 42)
        counts = []
        for server in (self.server, other):
            c = _client(server)
            self.addCleanup(c.close)
            counts.append(c.stats()[b"curr_items"])
        self.assertEqual(sum(counts), 200)  # 200 - h7 + counter
        self.assertTrue(all(n > 40 for n in counts), counts)  # both got a fair share


class MemtwinTest(PymemcacheTests, unittest.TestCase):
    binary = None  # from argv[1]
    # No replication listener: its default port (11212) would be shared by every server here.
    server_args = ("-X", "0")
    overhead_with_1_byte_key = 41  # 40-byte item header + key (storage/item.h)
    stores_memtwins_largest_value = True


class MemcachedTest(PymemcacheTests, unittest.TestCase):
    binary = MEMCACHED
    overhead_with_1_byte_key = 60  # 48-byte header + 8-byte CAS + key + NUL + "\r\n"
    stores_memtwins_largest_value = False


def _on_alarm(signum, frame):
    raise TimeoutError("pymemcache tests ran past %d s" % RUN_DEADLINE_SECONDS)


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: pymemcache_test.py MEMTWIN_BINARY [unittest args...]")
    MemtwinTest.binary = sys.argv[1]
    if not os.access(MEMCACHED, os.X_OK):
        sys.exit("FAIL: %s is missing (Debian package memcached)" % MEMCACHED)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(RUN_DEADLINE_SECONDS)
    try:
        program = unittest.main(argv=[sys.argv[0]] + sys.argv[2:], exit=False, verbosity=2)
        result = program.result
    finally:
        signal.alarm(0)
        for proc in _started:
            _stop(proc)
    if not result.wasSuccessful() or result.testsRun == 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
