#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace memtwin::testing {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

std::string MemtwinBinary() { return MEMTWIN_BINARY; }
std::string MemcachedBinary() { return "/usr/bin/memcached"; }

std::vector<std::string> CommandLine(const std::string& binary,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> all = args;
  // A memtwin test node listens for a replication peer only when the test asks for it: the
  // default port 11212 would be shared by every test running at once.
  if (binary == MemtwinBinary() && std::find(args.begin(), args.end(), "-X") == args.end()) {
    all.push_back("-X");
    all.push_back("0");
  }
  if (geteuid() == 0) {
    all.push_back("-u");
    all.push_back("root");
  }
  return all;
}

pid_t Spawn(const std::string& binary, const std::vector<std::string>& args,
            const std::string& stderr_path) {
  std::vector<std::string> all = {binary};
  all.insert(all.end(), args.begin(), args.end());
  // Built before fork: tests fork while other threads run, so the child only calls
  // async-signal-safe functions.
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (!stderr_path.empty()) {
      const int fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int FreePort() {
  // A port handed out may stay unbound for a while (a -X port whose node is linked as the
  // connecting side listens only once the link drops), so the kernel could offer it again to a
  // server started later in the same test: never hand out one port twice.
  static std::mutex mu;
  static std::set<int> handed_out;
  std::lock_guard<std::mutex> lock(mu);
  int port = 0;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    port = ntohs(addr.sin_port);
    if (handed_out.insert(port).second) break;
  }
  return port;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int ListenLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

std::vector<std::pair<pid_t, std::string>> ThreadsOf(pid_t pid) {
  std::vector<std::pair<pid_t, std::string>> threads;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return threads;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(dir + "/" + e->d_name + "/comm");
    std::string name;
    if (std::getline(comm, name)) threads.emplace_back(std::atoi(e->d_name), name);
  }
  closedir(d);
  return threads;
}

StatMap ParseStats(const std::string& reply) {
  StatMap stats;
  std::istringstream lines(reply);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string stat, name, value;
    if (fields >> stat >> name >> value && stat == "STAT") stats[name] = value;
  }
  return stats;
}

StatMap StatsOf(int port, const std::string& group) {
  auto c = Client::ConnectTcp(port);
  if (c == nullptr) return {};
  return ParseStats(c->Call(group.empty() ? "stats\r\n" : "stats " + group + "\r\n", "END\r\n"));
}

uint64_t StatNumber(const StatMap& stats, const std::string& name) {
  const auto it = stats.find(name);
  return it == stats.end() ? 0 : std::stoull(it->second);
}

std::string StatText(const StatMap& stats, const std::string& name) {
  const auto it = stats.find(name);
  return it == stats.end() ? "(none)" : it->second;
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const std::string& binary,
                                                    const std::vector<std::string>& args) {
  return Start(binary, args, StartOptions());
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const std::string& binary,
                                                    const std::vector<std::string>& args,
                                                    const StartOptions& options) {
  // The free port can be taken between our probe and the server's bind: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<ServerProcess> p(new ServerProcess);
    p->port_ = FreePort();
    std::vector<std::string> all = args;
    for (const char* a : {"-p", "", "-U", "0", "-l", "127.0.0.1"}) all.push_back(a);
    all[args.size() + 1] = std::to_string(p->port_);
    p->binary_ = binary;
    p->argv_ = CommandLine(binary, all);
    p->stderr_path_ = options.stderr_path;
    p->pid_ = Spawn(binary, p->argv_, p->stderr_path_);
    if (!options.wait_for_port) return p;
    if (p->WaitForPort()) return p;
  }
  return nullptr;
}

std::unique_ptr<ServerProcess> ServerProcess::StartUnix(const std::string& binary,
                                                        const std::vector<std::string>& args) {
  std::unique_ptr<ServerProcess> p(new ServerProcess);
  char dir[] = "/tmp/memtwin-test.XXXXXX";
  if (mkdtemp(dir) == nullptr) return nullptr;
  p->temp_dir_ = dir;
  p->unix_path_ = p->temp_dir_ + "/server.sock";
  std::vector<std::string> all = args;
  for (const std::string& a :
       {std::string("-s"), p->unix_path_, std::string("-U"), std::string("0")}) {
    all.push_back(a);
  }
  p->binary_ = binary;
  p->argv_ = CommandLine(binary, all);
  p->pid_ = Spawn(binary, p->argv_);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline && p->Alive()) {
    if (Client::ConnectUnix(p->unix_path_) != nullptr) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return nullptr;
}

ServerProcess::~ServerProcess() {
  if (Stop() == -1 && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
  if (!temp_dir_.empty()) rmdir(temp_dir_.c_str());
}

bool ServerProcess::Alive() {
  if (pid_ <= 0) return false;
  int status;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    exit_status_ = status;
    return false;
  }
  return true;
}

bool ServerProcess::WaitForPort(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline && Alive()) {
    if (Client::ConnectTcp(port_) != nullptr) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool ServerProcess::Restart(bool wait_for_port) {
  if (Alive() || argv_.empty()) return false;
  pid_ = Spawn(binary_, argv_, stderr_path_);
  return !wait_for_port || WaitForPort();
}

int ServerProcess::Stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return exit_status_;
  kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

std::unique_ptr<Client> Client::ConnectTcp(int port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return nullptr;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<Client>(new Client(fd));
}

std::unique_ptr<Client> Client::ConnectUnix(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<Client>(new Client(fd));
}

Client::~Client() { close(fd_); }

bool Client::Send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string Client::ReadUntil(const std::string& terminator, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string out;
  std::swap(out, pending_);
  for (;;) {
    const size_t end = out.find(terminator);
    if (end != std::string::npos) {
      pending_ = out.substr(end + terminator.size());
      out.resize(end + terminator.size());
      return out;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return out;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return out;
    char buf[65536];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string Client::ReadBytes(size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string out;
  std::swap(out, pending_);
  while (out.size() < n) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[65536];
    const ssize_t r = recv(fd_, buf, sizeof(buf), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  if (out.size() > n) {
    pending_ = out.substr(n);
    out.resize(n);
  }
  return out;
}

bool Client::WaitForClose(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return true;
    pending_.append(buf, static_cast<size_t>(n));
  }
}

std::string Client::Call(const std::string& request, const std::string& terminator) {
  if (!Send(request)) return "";
  return ReadUntil(terminator);
}

}  // namespace memtwin::testing
