// The memtwin binary as a network server: real processes on 127.0.0.1, raw sockets, and the
// same bytes sent to Debian's memcached 1.6.18 where the reply must match.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/scheduler_slice.h"
#include "storage/item.h"
#include "tests/integration/harness.h"
#include "tests/io_uring_probe.h"

namespace memtwin::testing {
namespace {

std::unique_ptr<ServerProcess> StartMemtwin(const std::vector<std::string>& args = {}) {
  auto server = ServerProcess::Start(MemtwinBinary(), args);
  EXPECT_NE(server, nullptr) << "memtwin did not start";
  return server;
}

TEST(ServerTest, AnswersVersionAndStoresAndReturnsAValue) {
  auto server = StartMemtwin();
  ASSERT_NE(server, nullptr);
  auto c = Client::ConnectTcp(server->port());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Call("version\r\n").rfind("VERSION ", 0), 0u);
  EXPECT_EQ(c->Call("set greeting 5 0 5\r\nhello\r\n"), "STORED\r\n");
  EXPECT_EQ(c->Call("get greeting\r\n", "END\r\n"), "VALUE greeting 5 5\r\nhello\r\nEND\r\n");
}

TEST(ServerTest, ThousandPipelinedRequestsInOneWriteAreAnsweredInOrder) {
  auto server = StartMemtwin();
  ASSERT_NE(server, nullptr);
  auto c = Client::ConnectTcp(server->port());
  ASSERT_NE(c, nullptr);
  std::string request, expected;
  for (int i = 0; i < 500; ++i) {
    const std::string key = "k" + std::to_string(i), value = "v" + std::to_string(i);
    request += "set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    request += "get " + key + "\r\n";
    expected += "STORED\r\nVALUE " + key + " 0 " + std::to_string(value.size()) + "\r\n" + value +
                "\r\nEND\r\n";
  }
  ASSERT_TRUE(c->Send(request));
  EXPECT_EQ(c->ReadBytes(expected.size()), expected);
}

// Replies are written at the end of the event loop's pass unless they pass 64 KB. With -R 1
// every request yields, so the replies to one read pile up past that within the pass and are
// written at once; when the client has reset the connection that write fails and the connection
// closes while it is still queued for the end of the pass.
TEST(ServerTest, ClientsResettingWithLargeRepliesQueuedAreClosedAndOthersStillServed) {
  auto server = StartMemtwin({"-R", "1"});
  ASSERT_NE(server, nullptr);
  auto c = Client::ConnectTcp(server->port());
  ASSERT_NE(c, nullptr);
  const std::string value(50 * 1024, 'v');
  ASSERT_EQ(c->Call("set big 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n"),
            "STORED\r\n");
  std::string gets;
  for (int i = 0; i < 8; ++i) gets += "get big\r\n";
  for (int i = 0; i < 20; ++i) {
    const int fd = ConnectLoopback(server->port());
    ASSERT_GE(fd, 0);
    ASSERT_EQ(send(fd, gets.data(), gets.size(), 0), static_cast<ssize_t>(gets.size()));
    const linger reset{.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
    close(fd);
  }
  const std::string expected =
      "VALUE big 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
  EXPECT_EQ(c->Call("get big\r\n", "END\r\n"), expected);
  EXPECT_TRUE(WaitFor([&] { return StatNumber(StatsOf(server->port()), "curr_connections") == 2; },
                      std::chrono::seconds(5)))
      << "the reset connections were not all closed";
  EXPECT_TRUE(server->Alive());
}

// The completions each of the process's io_uring instances has posted, from /proc.
std::vector<uint64_t> IoUringCompletionsOf(pid_t pid) {
  std::vector<uint64_t> completions;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(fd_dir)) {
    std::error_code error;
    const auto target = std::filesystem::read_symlink(entry.path(), error);
    if (error || target.string() != "anon_inode:[io_uring]") continue;
    std::ifstream info("/proc/" + std::to_string(pid) + "/fdinfo/" +
                       entry.path().filename().string());
    std::string name;
    uint64_t value = 0;
    while (info >> name) {
      if (name == "CqTail:" && info >> value) break;
    }
    completions.push_back(value);
  }
  return completions;
}

// Fifty clients each pipeline twenty gets before any reads, so a worker's pass holds many
// connections with replies: by default they go out through the worker's io_uring (its completion
// count moves), with -o no_io_uring by write(); either way each client gets exactly its own.
TEST(ServerTest, ManyClientsPipeliningAtOnceGetExactlyTheirOwnRepliesWithAndWithoutIoUring) {
  const bool kernel_has_it = KernelOffersIoUring();
  for (const bool use_io_uring : {true, false}) {
    SCOPED_TRACE(use_io_uring ? "default" : "-o no_io_uring");
    std::vector<std::string> args = {"-t", "2"};
    if (!use_io_uring) args.insert(args.end(), {"-o", "no_io_uring"});
    auto server = StartMemtwin(args);
    ASSERT_NE(server, nullptr);
    std::vector<std::unique_ptr<Client>> clients;
    std::vector<std::string> expected;
    for (int i = 0; i < 50; ++i) {
      clients.push_back(Client::ConnectTcp(server->port()));
      ASSERT_NE(clients.back(), nullptr);
      const std::string key = "key" + std::to_string(i), value = std::string(i + 1, 'a' + i % 26);
      ASSERT_EQ(clients.back()->Call("set " + key + " " + std::to_string(i) + " 0 " +
                                     std::to_string(value.size()) + "\r\n" + value + "\r\n"),
                "STORED\r\n");
      std::string replies;
      for (int j = 0; j < 20; ++j) {
        replies += "VALUE " + key + " " + std::to_string(i) + " " + std::to_string(value.size()) +
                   "\r\n" + value + "\r\nEND\r\n";
      }
      expected.push_back(replies);
    }
    for (int i = 0; i < 50; ++i) {
      std::string gets;
      for (int j = 0; j < 20; ++j) gets += "get key" + std::to_string(i) + "\r\n";
      ASSERT_TRUE(clients[i]->Send(gets));
    }
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(clients[i]->ReadBytes(expected[i].size()), expected[i]) << i;
    }
    const bool rings_expected = use_io_uring && kernel_has_it;
    EXPECT_EQ(StatText(StatsOf(server->port(), "settings"), "io_uring"),
              rings_expected ? "yes" : "no");
    const std::vector<uint64_t> rings = IoUringCompletionsOf(server->pid());
    ASSERT_EQ(rings.size(), rings_expected ? 2u : 0u);
    if (rings_expected) {
      uint64_t completions = 0;
      for (uint64_t n : rings) completions += n;
      EXPECT_GT(completions, 0u) << "no reply went through a worker's io_uring";
    }
  }
}

TEST(ServerTest, RequestsSplitIntoOneByteWritesGetTheSameReplies) {
  auto server = StartMemtwin();
  ASSERT_NE(server, nullptr);
  auto c = Client::ConnectTcp(server->port());
  ASSERT_NE(c, nullptr);
  const std::string request = "set a 1 0 3\r\nxyz\r\nget a b\r\nincr n 1\r\ndelete a\r\n";
  for (char ch : request) {
    ASSERT_TRUE(c->Send(std::string(1, ch)));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  EXPECT_EQ(c->ReadUntil("DELETED\r\n"),
            "STORED\r\nVALUE a 1 3\r\nxyz\r\nEND\r\nNOT_FOUND\r\nDELETED\r\n");
}

TEST(ServerTest, FiveHundredConcurrentConnectionsAreAllServed) {
  auto server = StartMemtwin({"-c", "1024"});
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 500; ++i) {
    clients.push_back(Client::ConnectTcp(server->port()));
    ASSERT_NE(clients.back(), nullptr) << i;
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    const std::string key = "c" + std::to_string(i);
    ASSERT_TRUE(clients[i]->Send("set " + key + " 0 0 1\r\nx\r\n"));
  }
  for (auto& c : clients) EXPECT_EQ(c->ReadUntil("\r\n"), "STORED\r\n");
  auto probe = Client::ConnectTcp(server->port());
  ASSERT_NE(probe, nullptr);
  // Poll: the harness's readiness probe connection may not be counted out yet.
  std::string stats;
  for (int i = 0; i < 200; ++i) {
    stats = probe->Call("stats\r\n", "END\r\n");
    if (stats.find("STAT curr_connections 501\r\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(stats.find("STAT curr_connections 501\r\n"), std::string::npos) << stats;
  EXPECT_NE(stats.find("STAT curr_items 500\r\n"), std::string::npos) << stats;
}

TEST(ServerTest, ConnectionsBeyondTheLimitGetMemcachedsErrorAndAreClosed) {
  auto server = StartMemtwin({"-c", "4"});
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<Client>> clients;
  // The harness's readiness probe is also a connection; the server notices its close a moment
  // later, so until then a slot may still be taken: retry a refused connection, with a deadline.
  for (int attempt = 0; attempt < 200 && clients.size() < 4; ++attempt) {
    auto c = Client::ConnectTcp(server->port());
    ASSERT_NE(c, nullptr);
    // A round trip makes sure the server has counted this connection.
    if (c->Call("version\r\n").rfind("VERSION", 0) == 0) {
      clients.push_back(std::move(c));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_EQ(clients.size(), 4u);
  auto extra = Client::ConnectTcp(server->port());
  ASSERT_NE(extra, nullptr);
  // The same line memcached 1.6.18 sends with maxconns_fast (its default).
  EXPECT_EQ(extra->ReadUntil("\r\n"), "ERROR Too many open connections\r\n");
  EXPECT_TRUE(extra->WaitForClose());
  clients.pop_back();
  // The freed slot is usable again (closing is noticed asynchronously: poll with a deadline).
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    auto again = Client::ConnectTcp(server->port());
    served = again != nullptr && again->Call("version\r\n").rfind("VERSION", 0) == 0;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(served);
}

TEST(ServerTest, ServesOnAUnixSocket) {
  auto server = ServerProcess::StartUnix(MemtwinBinary(), {});
  ASSERT_NE(server, nullptr);
  auto c = Client::ConnectUnix(server->unix_path());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Call("set u 0 0 2\r\nok\r\n"), "STORED\r\n");
  EXPECT_EQ(c->Call("get u\r\n", "END\r\n"), "VALUE u 0 2\r\nok\r\nEND\r\n");
}

TEST(ServerTest, SigtermExitsCleanlyWithStatusZero) {
  auto server = StartMemtwin();
  ASSERT_NE(server, nullptr);
  auto c = Client::ConnectTcp(server->port());
  ASSERT_NE(c, nullptr);
  const int status = server->Stop();
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

int ExitStatusOf(const std::string& binary, const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// memtwin exits with EX_USAGE (64) for every bad command line. memcached 1.6.18 also refuses
// these, but with 1 for most of them and 64 for a few (checked by hand).
TEST(ServerTest, BadCommandLinesExitWithUsageStatus64) {
  const std::vector<std::vector<std::string>> bad = {
      {"--no-such-flag"},       {"-t", "0"},   {"-c", "0"},   {"-f", "1"}, {"-I", "1m", "-m", "1"},
      {"-o", "no_such_option"}, {"-p", "abc"}, {"-I", "512"},
  };
  for (const auto& args : bad) {
    EXPECT_EQ(ExitStatusOf(MemtwinBinary(), args), 64) << args[0];
  }
  EXPECT_NE(ExitStatusOf(MemcachedBinary(), {"--no-such-flag"}), 0);
}

// Replaces CAS numbers (which legitimately differ) so replies can be compared byte for byte.
std::string MaskCas(const std::string& reply) {
  std::string out;
  size_t pos = 0;
  while (pos < reply.size()) {
    size_t eol = reply.find("\r\n", pos);
    eol = eol == std::string::npos ? reply.size() : eol + 2;
    std::string line = reply.substr(pos, eol - pos);
    if (line.rfind("VALUE ", 0) == 0 && std::count(line.begin(), line.end(), ' ') == 4) {
      line = line.substr(0, line.rfind(' ')) + " <cas>\r\n";
    }
    out += line;
    // Skip the data block so that value bytes are never taken for a reply line.
    if (line.rfind("VALUE ", 0) == 0) {
      const size_t bytes_at = line.find(' ', line.find(' ', 6) + 1) + 1;
      const size_t bytes = std::stoul(line.substr(bytes_at));
      out += reply.substr(eol, bytes + 2);
      eol += bytes + 2;
    }
    pos = eol;
  }
  return out;
}

// Whether this kernel keeps a slice a thread asks for: EEVDF custom slices came in Linux 6.12.
// Read from uname, not by asking, so a RequestSchedulerSlice that wrongly reports "ignored" fails
// the test below instead of skipping it.
bool KernelHasCustomSlices() {
  utsname name{};
  int major = 0, minor = 0;
  if (uname(&name) != 0 || std::sscanf(name.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 12);
}

// The slices of a server's threads named "worker", and of its main thread (the listener).
struct ServerSlices {
  std::vector<uint64_t> workers;
  uint64_t main_thread = 0;
};
ServerSlices SlicesOf(const ServerProcess& server) {
  ServerSlices slices;
  for (const auto& [tid, name] : ThreadsOf(server.pid())) {
    if (name == "worker") slices.workers.push_back(server::SchedulerSliceNs(tid));
    if (tid == server.pid()) slices.main_thread = server::SchedulerSliceNs(tid);
  }
  return slices;
}

// -o worker_slice_us=N: every worker asks for an N µs scheduler slice; the listener, and the
// workers by default, keep the kernel's.
TEST(ServerTest, WorkerThreadsRunWithTheConfiguredSchedulerSlice) {
  if (!KernelHasCustomSlices()) {
    GTEST_SKIP() << "this kernel ignores sched_runtime for SCHED_OTHER threads (custom slices "
                    "need Linux 6.12), so the workers' slices cannot be observed";
  }
  // Each worker asks as its thread starts, which may be just after the port opens.
  const auto workers_settle_on = [](const ServerProcess& server, size_t count,
                                    std::function<uint64_t(const ServerSlices&)> expected) {
    ServerSlices slices;
    WaitFor(
        [&] {
          slices = SlicesOf(server);
          return slices.workers == std::vector<uint64_t>(count, expected(slices));
        },
        std::chrono::seconds(5));
    return slices;
  };
  auto short_slice = StartMemtwin({"-t", "3", "-o", "worker_slice_us=100"});
  ASSERT_NE(short_slice, nullptr);
  ServerSlices slices =
      workers_settle_on(*short_slice, 3, [](const ServerSlices&) { return 100'000; });
  EXPECT_EQ(slices.workers, std::vector<uint64_t>(3, 100'000));
  EXPECT_NE(slices.main_thread, 100'000u);

  auto long_slice = StartMemtwin({"-t", "2", "-o", "worker_slice_us=2500"});
  ASSERT_NE(long_slice, nullptr);
  slices = workers_settle_on(*long_slice, 2, [](const ServerSlices&) { return 2'500'000; });
  EXPECT_EQ(slices.workers, std::vector<uint64_t>(2, 2'500'000));

  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"-t", "2"}, {"-t", "2", "-o", "worker_slice_us=0"}}) {
    auto kernel_default = StartMemtwin(args);
    ASSERT_NE(kernel_default, nullptr);
    slices =
        workers_settle_on(*kernel_default, 2, [](const ServerSlices& s) { return s.main_thread; });
    EXPECT_EQ(slices.workers, std::vector<uint64_t>(2, slices.main_thread)) << args.back();
    EXPECT_NE(slices.main_thread, 0u);
  }
}

// Sends `script` followed by "version" and returns everything before the version reply.
std::string RunScript(Client* c, const std::string& script) {
  std::string reply = c->Call(script + "version\r\n", "VERSION ");
  c->ReadUntil("\r\n");
  return MaskCas(reply.substr(0, reply.size() - 8));
}

// Sends each script to memtwin and to memcached 1.6.18 and requires identical replies.
TEST(ServerTest, RepliesMatchMemcachedByteForByte) {
  auto ours = StartMemtwin();
  auto theirs = ServerProcess::Start(MemcachedBinary(), {});
  ASSERT_NE(ours, nullptr);
  ASSERT_NE(theirs, nullptr);
  // Both accept a value this large with a short key (memcached's limit is slightly lower than
  // ours, whose 40-byte header leaves more room: see README).
  const std::string big(1024 * 1024 - 100, 'b');
  const std::vector<std::string> scripts = {
      "set k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nreplace k 3 0 1\r\nc\r\nget k\r\n",
      "append nokey 0 0 1\r\na\r\nprepend nokey 0 0 1\r\na\r\nreplace nokey 0 0 1\r\na\r\n",
      "set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\nget n\r\n",
      "set s 0 0 3\r\nabc\r\nincr s 1\r\nincr nothere 1\r\nincr s abc\r\n",
      "set e 0 0 0\r\n\r\nget e\r\n",
      "get " + std::string(251, 'x') + "\r\n",
      "set big 0 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\nget big\r\n",
      "set huge 0 0 2000000\r\n" + std::string(2000000, 'h') + "\r\nget huge\r\n",
      "delete nokey\r\nset d 0 0 1\r\nx\r\ndelete d\r\nget d\r\ndelete d 0\r\n",
      "touch nokey 10\r\nset t 0 0 1\r\nx\r\ntouch t 10\r\ngat 10 t nokey\r\n",
      "bogus command\r\nset\r\nget\r\nincr\r\n",
      "set bad 0 0 1\r\nxyz\r\n",
      "set neg 0 0 -1\r\nset f abc 0 1\r\n",
      "set a 0 0 1 noreply\r\nx\r\nget a\r\ncas a 0 0 1 1\r\ny\r\ncas q 0 0 1 1\r\ny\r\n",
      "flush_all\r\nget k\r\nflush_all noreply\r\nflush_all 0\r\n",
      "verbosity 1\r\nverbosity\r\n",
  };
  auto a = Client::ConnectTcp(ours->port());
  auto b = Client::ConnectTcp(theirs->port());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (const std::string& script : scripts) {
    EXPECT_EQ(RunScript(a.get(), script), RunScript(b.get(), script))
        << "script: " << script.substr(0, 200);
  }
}

// Where two long replies first differ, with some context, instead of two 50 KB strings.
std::string FirstDifference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  if (i == a.size() && i == b.size()) return "identical";
  const size_t from = i < 120 ? 0 : i - 120;
  return "first difference at byte " + std::to_string(i) + " of " + std::to_string(a.size()) +
         " / " + std::to_string(b.size()) + "\nmemtwin:   ..." + a.substr(from, 240) +
         "\nmemcached: ..." + b.substr(from, 240);
}

// 1,000 requests of every text command kind, drawn from a fixed pseudo-random sequence so both
// servers get the same bytes: hits, misses, multi-key gets, noreply, errors, a flush_all.
// Counters (n*) are changed by incr/decr but never read back with a get: when incr/decr shortens
// a number, memcached 1.6.18 pads it with spaces in place only if no one else holds the item
// (`refcount == 2` in do_add_delta), and in a pipeline a not-yet-written get reply may hold it,
// so its answer ("0  " or "0") depends on timing. memtwin always pads, as memcached does on an
// idle item (pinned in libmemcached_test.cc).
std::string MixedPipeline(int requests) {
  uint32_t state = 12345;
  auto next = [&state]() {
    state = state * 1103515245u + 12345u;
    return (state >> 8) % 1000;
  };
  std::string out;
  for (int i = 0; i < requests; ++i) {
    const std::string k = "k" + std::to_string(next() % 40);
    const std::string n = "n" + std::to_string(next() % 5);
    const std::string value = std::string(next() % 60, static_cast<char>('a' + i % 26));
    const std::string len = std::to_string(value.size());
    switch (next() % 16) {
      case 0:
      case 1:
        out += "set " + k + " " + std::to_string(i) + " 0 " + len + "\r\n" + value + "\r\n";
        break;
      case 2:
        out += "set " + n + " 0 0 " + std::to_string(std::to_string(i).size()) + "\r\n" +
               std::to_string(i) + "\r\n";
        break;
      case 3:
      case 4:
        out += "get " + k + "\r\n";
        break;
      case 5:
        out += "gets " + k + " missing " + k + "\r\n";
        break;
      case 6:
        out += "add " + k + " 0 0 " + len + "\r\n" + value + "\r\n";
        break;
      case 7:
        out += (i % 2 ? "append " : "prepend ") + k + " 0 0 " + len + "\r\n" + value + "\r\n";
        break;
      case 8:
        out += (i % 3 ? "incr " : "decr ") + n + " " + std::to_string(next()) + "\r\n";
        break;
      case 9:
        out += "incr " + k + " 1\r\n";  // mostly non-numeric: CLIENT_ERROR
        break;
      case 10:
        out += "delete " + k + "\r\n";
        break;
      case 11:
        out += "replace " + k + " 0 0 " + len + " noreply\r\n" + value + "\r\n";
        break;
      case 12:
        out += "cas " + k + " 0 0 " + len + " 0\r\n" + value + "\r\n";  // EXISTS or NOT_FOUND
        break;
      case 13:
        out += "touch " + k + " 3600\r\n";
        break;
      case 14:
        out += "gat 3600 " + k + " missing\r\n";
        break;
      case 15:
        out += i == 500 ? std::string("flush_all\r\n") : "get missing " + k + " " + k + "\r\n";
        break;
    }
  }
  return out;
}

TEST(ServerTest, ThousandMixedRequestsInOneWriteGetMemcachedsExactReplies) {
  auto ours = StartMemtwin();
  auto theirs = ServerProcess::Start(MemcachedBinary(), {});
  ASSERT_NE(ours, nullptr);
  ASSERT_NE(theirs, nullptr);
  auto a = Client::ConnectTcp(ours->port());
  auto b = Client::ConnectTcp(theirs->port());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::string pipeline = MixedPipeline(1000);
  // RunScript sends everything (plus a closing "version") with one Send.
  const std::string mine = RunScript(a.get(), pipeline);
  const std::string reference = RunScript(b.get(), pipeline);
  EXPECT_GT(reference.size(), 10000u);  // the pipeline really produced replies
  EXPECT_TRUE(mine == reference) << FirstDifference(mine, reference);
}

bool SendInChunks(Client* c, const std::string& bytes, size_t chunk) {
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    if (!c->Send(bytes.substr(off, chunk))) return false;
  }
  return true;
}

// The largest value each server accepts with a 1-byte key (memtwin: 40-byte header + key + value
// within -I; memcached 1.6.18: 60 bytes less than -I, measured), written one byte per send() and
// 64 KB per send(); one byte more is refused and swallowed without losing the connection.
TEST(ServerTest, LargestAcceptedValueArrivesWholeInOneByteAndSixtyFourKilobyteWrites) {
  constexpr size_t kMaxItemSize = 1024 * 1024;  // -I default
  struct Target {
    const char* name;
    std::string binary;
    size_t largest_value;
  };
  const Target targets[] = {
      {"memtwin", MemtwinBinary(), kMaxItemSize - storage::Item::TotalSize(1, 0)},
      {"memcached", MemcachedBinary(), kMaxItemSize - 60},
  };
  for (const Target& t : targets) {
    auto server = ServerProcess::Start(t.binary, {});
    ASSERT_NE(server, nullptr) << t.name;
    auto c = Client::ConnectTcp(server->port());
    ASSERT_NE(c, nullptr) << t.name;
    for (const size_t chunk : {size_t{1}, size_t{64 * 1024}}) {
      std::string value(t.largest_value, '\0');
      for (size_t i = 0; i < value.size(); ++i)
        value[i] = static_cast<char>((i * 31 + chunk) % 251);
      const std::string set = "set k 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
      ASSERT_TRUE(SendInChunks(c.get(), set, chunk)) << t.name << " chunk " << chunk;
      ASSERT_EQ(c->ReadUntil("\r\n", std::chrono::seconds(30)), "STORED\r\n")
          << t.name << " chunk " << chunk;
      ASSERT_TRUE(c->Send("get k\r\n"));
      const std::string expected =
          "VALUE k 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
      EXPECT_TRUE(c->ReadBytes(expected.size()) == expected) << t.name << " chunk " << chunk;
    }
    const std::string too_big = "set k 0 0 " + std::to_string(t.largest_value + 1) + "\r\n" +
                                std::string(t.largest_value + 1, 'x') + "\r\n";
    ASSERT_TRUE(SendInChunks(c.get(), too_big, 64 * 1024));
    EXPECT_EQ(c->ReadUntil("\r\n"), "SERVER_ERROR object too large for cache\r\n") << t.name;
    EXPECT_EQ(c->Call("get k\r\n", "END\r\n"), "END\r\n") << t.name;  // the failed set removed it
  }
}

// ---------------------------------------------------------------------------------------------
// stats conns

// One socket of "stats conns".
struct ConnRow {
  int fd = -1;
  std::string addr;
  std::string listen_addr;
  std::string state;
  std::string secs;
};

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits "STAT <fd>:<name> <value>" (name in [a-z_]+, value non-empty); false for anything else.
bool SplitConnStat(const std::string& line, int* fd, std::string* name, std::string* value) {
  constexpr std::string_view kStat = "STAT ";
  if (line.compare(0, kStat.size(), kStat) != 0) return false;
  const size_t colon = line.find(':', kStat.size());
  const size_t space = line.find(' ', kStat.size());
  if (colon == std::string::npos || space == std::string::npos || colon > space) return false;
  const std::string digits = line.substr(kStat.size(), colon - kStat.size());
  *name = line.substr(colon + 1, space - colon - 1);
  *value = line.substr(space + 1);
  if (!AllDigits(digits) || name->empty() || value->empty() ||
      !std::all_of(name->begin(), name->end(),
                   [](char c) { return c == '_' || (c >= 'a' && c <= 'z'); })) {
    return false;
  }
  *fd = std::stoi(digits);
  return true;
}

// Reads "stats conns" strictly in memcached 1.6.18's shape: per socket, in rising fd order,
// "STAT <fd>:addr", "STAT <fd>:listen_addr" (not for a listener), "STAT <fd>:state",
// "STAT <fd>:secs_since_last_cmd <n>"; then END. Anything else is an error.
std::vector<ConnRow> ParseConns(const std::string& reply, std::string* error) {
  std::vector<ConnRow> rows;
  size_t pos = 0;
  std::string expected_next = "addr";
  for (;;) {
    const size_t eol = reply.find("\r\n", pos);
    if (eol == std::string::npos) {
      *error = "unterminated";
      return {};
    }
    const std::string line = reply.substr(pos, eol - pos);
    pos = eol + 2;
    if (line == "END" && expected_next == "addr") break;
    int fd;
    std::string name, value;
    if (!SplitConnStat(line, &fd, &name, &value)) {
      *error = "bad line: " + line;
      return {};
    }
    if (name == "addr" && expected_next == "addr") {
      if (!rows.empty() && fd <= rows.back().fd) {
        *error = "fds out of order at " + line;
        return {};
      }
      rows.push_back(ConnRow{fd, value, "", "", ""});
      expected_next = "listen_addr";
      continue;
    }
    if (rows.empty() || fd != rows.back().fd) {
      *error = "fd changed within a socket at " + line;
      return {};
    }
    ConnRow& row = rows.back();
    if (name == "listen_addr" && expected_next == "listen_addr") {
      row.listen_addr = value;
      expected_next = "state";
    } else if (name == "state" && (expected_next == "listen_addr" || expected_next == "state")) {
      if ((value == "conn_listening") != row.listen_addr.empty()) {
        *error = "listen_addr is for clients only, at " + line;
        return {};
      }
      row.state = value;
      expected_next = "secs_since_last_cmd";
    } else if (name == "secs_since_last_cmd" && expected_next == name && AllDigits(value)) {
      row.secs = value;
      expected_next = "addr";
    } else {
      *error = "unexpected line: " + line;
      return {};
    }
  }
  if (pos != reply.size()) *error = "bytes after END";
  return rows;
}

// The rows as "addr | listen_addr | state", sorted, with ports and the unix path masked: what must
// be equal between memcached and memtwin (fd numbers depend on when each server notices the
// harness's readiness probe has gone).
std::vector<std::string> Shape(const std::vector<ConnRow>& rows, const std::string& unix_path) {
  const auto mask = [&](std::string text) {
    // A trailing ":<port>" after an address ("1.2.3.4:" or "[::1]:") becomes ":P".
    const size_t colon = text.rfind(':');
    if (colon != std::string::npos && colon > 0 && AllDigits(text.substr(colon + 1)) &&
        (text[colon - 1] == ']' || (text[colon - 1] >= '0' && text[colon - 1] <= '9'))) {
      text = text.substr(0, colon) + ":P";
    }
    if (!unix_path.empty()) {
      for (size_t at = text.find(unix_path); at != std::string::npos;
           at = text.find(unix_path, at + 4)) {
        text.replace(at, unix_path.size(), "PATH");
      }
    }
    return text;
  };
  std::vector<std::string> shape;
  for (const ConnRow& row : rows) {
    shape.push_back(mask(row.addr) + " | " + mask(row.listen_addr) + " | " + row.state);
  }
  std::sort(shape.begin(), shape.end());
  return shape;
}

int LocalPort(int fd) {
  sockaddr_storage address{};
  socklen_t len = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len);
  return ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
}

// Asks "stats conns" until its shape is `expected` (a connection just closed, such as the
// harness's readiness probe, or a reply just written takes a moment to show), with a deadline.
// Returns the last reply's rows; a reply not in memcached's shape fails the test.
std::vector<ConnRow> PollConns(Client* c, const std::vector<std::string>& expected,
                               const std::string& unix_path = "") {
  std::vector<ConnRow> rows;
  for (int i = 0; i < 500; ++i) {
    const std::string reply = c->Call("stats conns\r\n", "END\r\n");
    std::string error;
    rows = ParseConns(reply, &error);
    EXPECT_EQ(error, "") << reply;
    if (!error.empty() || Shape(rows, unix_path) == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return rows;
}

const ConnRow* RowWithAddr(const std::vector<ConnRow>& rows, const std::string& addr) {
  for (const ConnRow& row : rows) {
    if (row.addr == addr) return &row;
  }
  return nullptr;
}

// The listener, a client idle after a command, a client that never sent one, and the client
// asking: the shape and state names memcached 1.6.18 prints (the test runs it too).
TEST(ServerTest, StatsConnsListsTheListenerAndClientsAsMemcachedDoes) {
  const std::vector<std::string> expected = {
      "tcp:127.0.0.1:P |  | conn_listening",
      "tcp:127.0.0.1:P | tcp:127.0.0.1:P | conn_new_cmd",
      "tcp:127.0.0.1:P | tcp:127.0.0.1:P | conn_parse_cmd",
      "tcp:127.0.0.1:P | tcp:127.0.0.1:P | conn_read",
  };
  for (const std::string& binary : {MemcachedBinary(), MemtwinBinary()}) {
    auto server = ServerProcess::Start(binary, {});
    ASSERT_NE(server, nullptr) << binary;
    auto used = Client::ConnectTcp(server->port());
    ASSERT_NE(used, nullptr);
    ASSERT_EQ(used->Call("set a 0 0 1\r\nx\r\n"), "STORED\r\n");
    auto fresh = Client::ConnectTcp(server->port());
    ASSERT_NE(fresh, nullptr);
    auto asking = Client::ConnectTcp(server->port());
    ASSERT_NE(asking, nullptr);
    const std::vector<ConnRow> rows = PollConns(asking.get(), expected);
    ASSERT_EQ(Shape(rows, ""), expected) << binary;
    const std::string listen = "tcp:127.0.0.1:" + std::to_string(server->port());
    EXPECT_EQ(rows[0].addr, listen) << binary;  // the lowest fd: opened first
    const auto client = [&](Client* c) {
      return RowWithAddr(rows, "tcp:127.0.0.1:" + std::to_string(LocalPort(c->fd())));
    };
    const ConnRow* u = client(used.get());
    const ConnRow* f = client(fresh.get());
    const ConnRow* a = client(asking.get());
    ASSERT_TRUE(u != nullptr && f != nullptr && a != nullptr) << binary;
    EXPECT_EQ(u->state, "conn_read") << binary;
    EXPECT_EQ(f->state, "conn_new_cmd") << binary;
    EXPECT_EQ(a->state, "conn_parse_cmd") << binary;
    EXPECT_EQ(a->secs, "0") << binary;
    for (const ConnRow* row : {u, f, a}) EXPECT_EQ(row->listen_addr, listen) << binary;
  }
}

// A binary client part way through a set's value is in conn_nread, one part way through a header
// in conn_read: the states memcached 1.6.18 shows (the test runs it too).
TEST(ServerTest, StatsConnsShowsWhereABinaryRequestStopped) {
  // A binary set of "k" = "hello": header, flags and expiry, key, value.
  std::string set = {'\x80', '\x01', 0, 1, 8, 0, 0, 0, 0, 0, 0, 14};
  set += std::string(12, '\0') + std::string(8, '\0') + "k" + "hello";
  for (const std::string& binary : {MemcachedBinary(), MemtwinBinary()}) {
    auto server = ServerProcess::Start(binary, {});
    ASSERT_NE(server, nullptr) << binary;
    auto in_value = Client::ConnectTcp(server->port());
    ASSERT_NE(in_value, nullptr);
    ASSERT_TRUE(in_value->Send(set.substr(0, set.size() - 3)));
    auto in_header = Client::ConnectTcp(server->port());
    ASSERT_NE(in_header, nullptr);
    ASSERT_TRUE(in_header->Send(set.substr(0, 10)));
    auto asking = Client::ConnectTcp(server->port());
    ASSERT_NE(asking, nullptr);
    std::string value_state, header_state, reply;
    // The accepting thread may take a moment to see the bytes; the fd order of the rows is the
    // server's, so each client is found by its address.
    WaitFor(
        [&] {
          reply = asking->Call("stats conns\r\n", "END\r\n");
          std::string error;
          const std::vector<ConnRow> rows = ParseConns(reply, &error);
          const auto state_of = [&](Client* c) {
            const ConnRow* row =
                RowWithAddr(rows, "tcp:127.0.0.1:" + std::to_string(LocalPort(c->fd())));
            return row == nullptr ? std::string("(missing)") : row->state;
          };
          value_state = state_of(in_value.get());
          header_state = state_of(in_header.get());
          return value_state == "conn_nread" && header_state == "conn_read";
        },
        std::chrono::seconds(5));
    EXPECT_EQ(value_state, "conn_nread") << binary << "\n" << reply;
    EXPECT_EQ(header_state, "conn_read") << binary << "\n" << reply;
  }
}

// Checked against memcached 1.6.18: the listener is "unix:<path>", and a client's own address,
// which a unix socket does not have, prints as "?:<AF 0>". One difference on purpose: memcached
// reads a listener's address into a sockaddr_in6 and so cuts its path to 26 bytes; memtwin
// prints it whole.
TEST(ServerTest, StatsConnsOnAUnixSocketMatchesMemcached) {
  for (const std::string& binary : {MemcachedBinary(), MemtwinBinary()}) {
    auto server = ServerProcess::StartUnix(binary, {});
    ASSERT_NE(server, nullptr) << binary;
    const std::string& path = server->unix_path();
    std::vector<std::string> expected = {
        "?:<AF 0> | unix:PATH | conn_parse_cmd",
        "?:<AF 0> | unix:PATH | conn_read",
        binary == MemcachedBinary() && path.size() > 26
            ? "unix:" + path.substr(0, 26) + " |  | conn_listening"
            : "unix:PATH |  | conn_listening",
    };
    std::sort(expected.begin(), expected.end());
    auto used = Client::ConnectUnix(server->unix_path());
    ASSERT_NE(used, nullptr);
    ASSERT_EQ(used->Call("version\r\n").rfind("VERSION ", 0), 0u);
    auto asking = Client::ConnectUnix(server->unix_path());
    ASSERT_NE(asking, nullptr);
    const std::vector<ConnRow> rows = PollConns(asking.get(), expected, server->unix_path());
    EXPECT_EQ(Shape(rows, server->unix_path()), expected) << binary;
  }
}

// An IPv6 listener and client print as "tcp6:[::1]:<port>", as memcached 1.6.18 prints them.
TEST(ServerTest, StatsConnsShowsIpv6AddressesAsMemcachedDoes) {
  const int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 loopback{};
  loopback.sin6_family = AF_INET6;
  loopback.sin6_addr = in6addr_loopback;
  const bool have_ipv6 =
      probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&loopback), sizeof(loopback)) == 0;
  if (probe >= 0) close(probe);
  if (!have_ipv6) GTEST_SKIP() << "no IPv6 loopback here";
  const std::vector<std::string> expected = {
      "tcp6:[::1]:P |  | conn_listening",
      "tcp6:[::1]:P | tcp6:[::1]:P | conn_read",
      "tcp:127.0.0.1:P |  | conn_listening",
      "tcp:127.0.0.1:P | tcp:127.0.0.1:P | conn_parse_cmd",
  };
  for (const std::string& binary : {MemcachedBinary(), MemtwinBinary()}) {
    // The harness adds "-l 127.0.0.1"; both servers add up repeated -l flags.
    auto server = ServerProcess::Start(binary, {"-l", "[::1]"});
    ASSERT_NE(server, nullptr) << binary;
    const int v6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(v6, 0);
    sockaddr_in6 to = loopback;
    to.sin6_port = htons(static_cast<uint16_t>(server->port()));
    ASSERT_EQ(connect(v6, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0) << binary;
    const std::string version = "version\r\n";
    ASSERT_EQ(send(v6, version.data(), version.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(version.size()));
    char buf[64];
    ASSERT_GT(recv(v6, buf, sizeof(buf), 0), 0);  // "VERSION ...\r\n" fits in one segment
    auto asking = Client::ConnectTcp(server->port());
    ASSERT_NE(asking, nullptr);
    const std::vector<ConnRow> rows = PollConns(asking.get(), expected);
    EXPECT_EQ(Shape(rows, ""), expected) << binary;
    const std::string port = std::to_string(server->port());
    EXPECT_EQ(rows[0].addr, "tcp6:[::1]:" + port) << binary;  // listeners open in -l order
    const ConnRow* row = RowWithAddr(rows, "tcp6:[::1]:" + std::to_string(LocalPort(v6)));
    ASSERT_NE(row, nullptr) << binary;
    EXPECT_EQ(row->listen_addr, "tcp6:[::1]:" + port) << binary;
    close(v6);
  }
}

// ---------------------------------------------------------------------------------------------
// cache_memlimit

// Stores 1000-byte values under new keys until the server refuses one; returns how many it took.
int FillUntilOutOfMemory(Client* c, int first_key) {
  const std::string value(1000, 'v');
  for (int i = first_key;; ++i) {
    const std::string reply =
        c->Call("set k" + std::to_string(i) + " 0 0 1000\r\n" + value + "\r\n");
    if (reply != "STORED\r\n") {
      EXPECT_EQ(reply, "SERVER_ERROR out of memory storing object\r\n") << i;
      return i - first_key;
    }
  }
}

std::string StatOf(Client* c, const std::string& group, const std::string& name) {
  const std::string reply = c->Call("stats" + group + "\r\n", "END\r\n");
  const std::string prefix = "STAT " + name + " ";
  const size_t at = reply.find(prefix);
  if (at == std::string::npos) return "";
  return reply.substr(at + prefix.size(), reply.find("\r\n", at) - at - prefix.size());
}

// memcached 1.6.18 -m 2 -M fills two pages of one class, and after "cache_memlimit 8" eight:
// four times as many items (checked; this test runs it too).
TEST(ServerTest, CacheMemlimitRaisedLetsAFullServerStoreMore) {
  for (const std::string& binary : {MemcachedBinary(), MemtwinBinary()}) {
    auto server = ServerProcess::Start(binary, {"-m", "2", "-M"});
    ASSERT_NE(server, nullptr) << binary;
    auto c = Client::ConnectTcp(server->port());
    ASSERT_NE(c, nullptr);
    const int before = FillUntilOutOfMemory(c.get(), 0);
    ASSERT_GT(before, 0) << binary;
    EXPECT_EQ(StatOf(c.get(), "", "limit_maxbytes"), "2097152") << binary;
    EXPECT_EQ(c->Call("cache_memlimit 8\r\n"), "OK\r\n") << binary;
    EXPECT_EQ(StatOf(c.get(), "", "limit_maxbytes"), "8388608") << binary;
    EXPECT_EQ(StatOf(c.get(), " settings", "maxbytes"), "8388608") << binary;
    const int more = FillUntilOutOfMemory(c.get(), before);
    EXPECT_EQ(before + more, 4 * before) << binary;
    EXPECT_EQ(StatOf(c.get(), "", "curr_items"), std::to_string(4 * before)) << binary;
    EXPECT_EQ(StatOf(c.get(), "", "evictions"), "0") << binary;
  }
}

// The memory (-m 8) goes to 100-byte items first; then 10,000-byte values arrive. memcached
// 1.6.18 gives their class its first page past the limit (total_malloced 9 MB) and stores them,
// evicting within that page; so must memtwin, with or without -M.
TEST(ServerTest, ASizeArrivingAfterTheMemoryIsFullGetsAPageAsInMemcached) {
  for (const std::string& binary : {MemcachedBinary(), MemtwinBinary()}) {
    for (const bool evict : {true, false}) {
      std::vector<std::string> args = {"-m", "8"};
      if (!evict) args.push_back("-M");
      auto server = ServerProcess::Start(binary, args);
      ASSERT_NE(server, nullptr) << binary;
      auto c = Client::ConnectTcp(server->port());
      ASSERT_NE(c, nullptr);
      const std::string small(100, 's');
      std::string script;
      for (int i = 0; i < 100000; ++i) {
        script += "set small" + std::to_string(i) + " 0 0 100 noreply\r\n" + small + "\r\n";
      }
      ASSERT_TRUE(c->Send(script + "mn\r\n"));
      ASSERT_NE(c->ReadUntil("MN\r\n", std::chrono::seconds(30)), "");
      ASSERT_EQ(StatOf(c.get(), " slabs", "total_malloced"), "8388608") << binary;
      const std::string big(10000, 'b');
      int stored = 0;
      for (int i = 0; i < 200; ++i) {
        const std::string reply =
            c->Call("set big" + std::to_string(i) + " 0 0 10000\r\n" + big + "\r\n");
        if (reply != "STORED\r\n") {
          EXPECT_FALSE(evict) << binary << " " << i << ": " << reply;
          EXPECT_EQ(reply, "SERVER_ERROR out of memory storing object\r\n") << binary;
          break;
        }
        ++stored;
      }
      // One page of about 100 chunks: with eviction all 200 go in, with -M about 100.
      EXPECT_GT(stored, 50) << binary << " evict " << evict;
      EXPECT_EQ(StatOf(c.get(), " slabs", "total_malloced"), "9437184") << binary;
      EXPECT_EQ(c->Call("get big" + std::to_string(stored - 1) + "\r\n", "END\r\n"),
                "VALUE big" + std::to_string(stored - 1) + " 0 10000\r\n" + big + "\r\nEND\r\n")
          << binary;
    }
  }
}

TEST(ServerTest, CacheMemlimitLoweredStopsGrowthAndEvicts) {
  auto server = StartMemtwin({"-m", "16"});
  ASSERT_NE(server, nullptr);
  auto c = Client::ConnectTcp(server->port());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Call("cache_memlimit 8\r\n"), "OK\r\n");
  const std::string value(1000, 'v');
  std::string script;
  for (int i = 0; i < 16000; ++i) {
    script += "set k" + std::to_string(i) + " 0 0 1000 noreply\r\n" + value + "\r\n";
  }
  ASSERT_TRUE(c->Send(script));
  EXPECT_EQ(StatOf(c.get(), " slabs", "total_malloced"), "8388608");
  EXPECT_NE(StatOf(c.get(), "", "evictions"), "0");
}

// -k: the reservation beyond the limit is not faulted in by mlockall, and a raised limit is
// locked in as -k promises.
TEST(ServerTest, CacheMemlimitWithLockedMemoryFaultsInOnlyWhatTheLimitAllows) {
  auto server = StartMemtwin({"-k", "-m", "8"});
  ASSERT_NE(server, nullptr);
  auto c = Client::ConnectTcp(server->port());
  ASSERT_NE(c, nullptr);
  const auto status_kb = [&](const std::string& field) -> long {
    std::ifstream in("/proc/" + std::to_string(server->pid()) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return -1;
  };
  if (status_kb("VmLck") <= 0) GTEST_SKIP() << "mlockall is not permitted here";
  const long before = status_kb("VmRSS");
  EXPECT_LT(before, 256 * 1024) << "kB resident with -m 8";
  EXPECT_EQ(c->Call("cache_memlimit 72\r\n"), "OK\r\n");
  EXPECT_GE(status_kb("VmRSS") - before, 60 * 1024) << "kB faulted in by the raise";
}

}  // namespace
}  // namespace memtwin::testing
