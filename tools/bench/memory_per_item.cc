// Memory per item: fills memtwin's Store (in process) and Debian's memcached (over a unix
// socket, same -m/-f/-n) with the same items and prints bytes per item for both, side by side.
// Counted: slab pages handed out (memcached's total_malloced) plus the hash table, and the
// process RSS growth. Usage: memory_per_item [--items N] [--value-size B] [--memory-mb M]
//                                            [--factor F] [--min-space N] [--memcached PATH]
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "storage/store.h"

namespace {

struct Config {
  long items = 1'000'000;
  long value_size = 100;
  long memory_mb = 1024;
  double factor = 1.25;
  long min_space = 48;
  std::string memcached = "/usr/bin/memcached";
};

// Keys of 10 to 16 bytes, as the issue asks.
std::string KeyFor(long i) { return absl::StrFormat("key:%0*d", 6 + static_cast<int>(i % 7), i); }

long RssBytes(pid_t pid) {
  std::ifstream in(absl::StrFormat("/proc/%d/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) * 1024;
  }
  return 0;
}

struct Result {
  double slab_bytes = 0;
  double hash_bytes = 0;
  double rss_growth = 0;
  long items = 0;
};

Result FillMemtwin(const Config& c) {
  using namespace memtwin::storage;
  StorageOptions options;
  options.memory_limit = static_cast<size_t>(c.memory_mb) << 20;
  options.growth_factor = c.factor;
  options.min_value_space = static_cast<size_t>(c.min_space);
  SystemClock clock;
  const long rss_before = RssBytes(getpid());
  auto store = Store::Create(options, &clock).value();
  const std::string value(static_cast<size_t>(c.value_size), 'v');
  for (long i = 0; i < c.items; ++i) {
    const std::string key = KeyFor(i);
    store->Set({.key = key, .value = value});
  }
  store->Maintain();
  const StoreStats s = store->Stats();
  Result r;
  r.items = static_cast<long>(s.curr_items);
  r.slab_bytes = static_cast<double>(s.total_malloced);
  r.hash_bytes = static_cast<double>(s.hash_bytes);
  r.rss_growth = static_cast<double>(RssBytes(getpid()) - rss_before);
  return r;
}

class UnixClient {
 public:
  explicit UnixClient(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~UnixClient() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = write(fd_, data.data() + off, data.size() - off);
      if (n <= 0) std::abort();
      off += static_cast<size_t>(n);
    }
  }
  // Reads until the reply ends with `terminator`.
  std::string ReadUntil(const std::string& terminator) {
    std::string out;
    char buf[65536];
    while (out.size() < terminator.size() ||
           out.compare(out.size() - terminator.size(), terminator.size(), terminator) != 0) {
      const ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) std::abort();
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::map<std::string, std::string> ParseStats(const std::string& reply) {
  // Debian's Abseil has its own string_view type, so this parses with the standard library.
  std::map<std::string, std::string> stats;
  size_t start = 0;
  while (start < reply.size()) {
    size_t end = reply.find("\r\n", start);
    if (end == std::string::npos) end = reply.size();
    const std::string line = reply.substr(start, end - start);
    start = end + 2;
    const size_t name_end = line.find(' ', 5);
    if (line.rfind("STAT ", 0) != 0 || name_end == std::string::npos) continue;
    stats[line.substr(5, name_end - 5)] = line.substr(name_end + 1);
  }
  return stats;
}

bool FillMemcached(const Config& c, Result* r) {
  char dir_template[] = "/tmp/memory_per_item.XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return false;
  const std::string sock = std::string(dir) + "/mc.sock";
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string m = std::to_string(c.memory_mb), f = absl::StrFormat("%g", c.factor),
                      n = std::to_string(c.min_space);
    std::vector<const char*> argv = {c.memcached.c_str(), "-s", sock.c_str(), "-m", m.c_str(), "-f",
                                     f.c_str(),           "-n", n.c_str(),    "-t", "1"};
    if (geteuid() == 0) {
      argv.push_back("-u");
      argv.push_back("root");
    }
    argv.push_back(nullptr);
    execv(argv[0], const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  bool ok = false;
  {
    std::unique_ptr<UnixClient> client;
    for (int attempt = 0; attempt < 100; ++attempt) {
      client = std::make_unique<UnixClient>(sock);
      if (client->connected()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (client->connected()) {
      const long rss_before = RssBytes(pid);
      const std::string value(static_cast<size_t>(c.value_size), 'v');
      std::string batch;
      for (long i = 0; i < c.items; ++i) {
        absl::StrAppendFormat(&batch, "set %s 0 0 %d noreply\r\n%s\r\n", KeyFor(i), c.value_size,
                              value);
        if (batch.size() > (1 << 16)) {
          client->Send(batch);
          batch.clear();
        }
      }
      batch += "version\r\n";
      client->Send(batch);
      client->ReadUntil("\r\n");
      // memcached grows its hash table in a background thread: wait until it is done, so both
      // tables are measured at their final size.
      std::map<std::string, std::string> general;
      for (int attempt = 0; attempt < 100; ++attempt) {
        client->Send("stats\r\n");
        general = ParseStats(client->ReadUntil("END\r\n"));
        const long items = std::atol(general["curr_items"].c_str());
        const long buckets = 1L << std::atol(general["hash_power_level"].c_str());
        if (general["hash_is_expanding"] == "0" && items <= buckets * 3 / 2) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      client->Send("stats slabs\r\n");
      auto slabs = ParseStats(client->ReadUntil("END\r\n"));
      r->items = std::atol(general["curr_items"].c_str());
      r->slab_bytes = std::atof(slabs["total_malloced"].c_str());
      r->hash_bytes = std::atof(general["hash_bytes"].c_str());
      r->rss_growth = static_cast<double>(RssBytes(pid) - rss_before);
      ok = true;
    }
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  unlink(sock.c_str());
  rmdir(dir);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--items")
      c.items = std::atol(v);
    else if (flag == "--value-size")
      c.value_size = std::atol(v);
    else if (flag == "--memory-mb")
      c.memory_mb = std::atol(v);
    else if (flag == "--factor")
      c.factor = std::atof(v);
    else if (flag == "--min-space")
      c.min_space = std::atol(v);
    else if (flag == "--memcached")
      c.memcached = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 64;
    }
  }
  const Result ours = FillMemtwin(c);
  Result theirs;
  const bool have_memcached = FillMemcached(c, &theirs);
  std::printf("fill: %ld items, %ld-byte values, 10-16-byte keys, -m %ld -f %g -n %ld\n", c.items,
              c.value_size, c.memory_mb, c.factor, c.min_space);
  std::printf("item header: memtwin %zu bytes; memcached 48 + 8 (CAS) + key NUL + value CRLF\n",
              sizeof(memtwin::storage::Item));
  if (!have_memcached) {
    std::printf("memcached (%s) could not be started: no comparison\n", c.memcached.c_str());
    return 1;
  }
  const auto per = [](double bytes, long items) { return items > 0 ? bytes / items : 0.0; };
  std::printf("%-26s %10s %10s %8s\n", "bytes per item", "memtwin", "memcached", "ratio");
  const auto row = [&](const char* name, double a, double b) {
    std::printf("%-26s %10.1f %10.1f %7.2fx\n", name, per(a, ours.items), per(b, theirs.items),
                per(a, ours.items) / per(b, theirs.items));
  };
  row("slab pages", ours.slab_bytes, theirs.slab_bytes);
  row("hash table", ours.hash_bytes, theirs.hash_bytes);
  row("slab pages + hash table", ours.slab_bytes + ours.hash_bytes,
      theirs.slab_bytes + theirs.hash_bytes);
  row("RSS growth", ours.rss_growth, theirs.rss_growth);
  std::printf("items stored: memtwin %ld, memcached %ld\n", ours.items, theirs.items);
  return ours.items == c.items && theirs.items == c.items ? 0 : 1;
}
