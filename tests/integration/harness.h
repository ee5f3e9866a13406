// Test harness for integration tests: starts real server processes (memtwin or Debian's
// memcached) on 127.0.0.1 with free ephemeral ports, and talks to them over plain sockets.
// Every process is stopped (SIGTERM, then SIGKILL after a deadline) when its handle dies.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace memtwin::testing {

// Paths baked in by CMake.
std::string MemtwinBinary();
std::string MemcachedBinary();

// The argument list (without the binary) a test server runs with: `args`, plus "-X 0" for
// memtwin unless `args` has -X, plus "-u root" when the tests run as root.
std::vector<std::string> CommandLine(const std::string& binary,
                                     const std::vector<std::string>& args);

// fork + execv of `binary` with `args`, its stderr appended to `stderr_path` when one is given;
// returns the child's pid. ServerProcess is the usual way; this is for a process a test drives
// itself.
pid_t Spawn(const std::string& binary, const std::vector<std::string>& args,
            const std::string& stderr_path = "");

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, closed), never
// one this process was given before.
int FreePort();

// Polls `condition` every 10 ms until it holds or `timeout` passes; true if it held.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A blocking TCP socket (close-on-exec, no other options) connected to 127.0.0.1:port, or -1.
// The caller owns it and sets the timeouts it needs.
int ConnectLoopback(int port);

// A TCP socket listening on 127.0.0.1 at an ephemeral port (backlog 16), or -1; *port gets the
// port. For in-test relays that stand between two nodes.
int ListenLoopback(int* port);

// The threads of process `pid` as (tid, name from /proc/<pid>/task/<tid>/comm).
std::vector<std::pair<pid_t, std::string>> ThreadsOf(pid_t pid);

// A "stats" reply as name → value.
using StatMap = std::map<std::string, std::string>;
// The STAT lines of a reply already read (e.g. over TLS).
StatMap ParseStats(const std::string& reply);
// "stats <group>" ("stats" alone when `group` is empty), read on a fresh connection; empty if
// the node does not answer.
StatMap StatsOf(int port, const std::string& group = "");
// The stat as a number; 0 if absent.
uint64_t StatNumber(const StatMap& stats, const std::string& name);
// The stat as text; "(none)" if absent, so a failure message shows it was missing.
std::string StatText(const StatMap& stats, const std::string& name);

struct StartOptions {
  // Wait until the client port accepts connections before returning.
  bool wait_for_port = true;
  // When set, the process's stderr is appended to this file (kept across restarts).
  std::string stderr_path;
};

class ServerProcess {
 public:
  // Starts `binary` with `args` plus "-p <free port> -U 0 -l 127.0.0.1" (and "-u root" when
  // running as root) and waits until the port accepts connections. Returns nullptr on failure.
  static std::unique_ptr<ServerProcess> Start(const std::string& binary,
                                              const std::vector<std::string>& args);
  // The same, with options. Without wait_for_port the process is only spawned (one attempt:
  // a port taken by someone else shows up later as WaitForPort failing).
  static std::unique_ptr<ServerProcess> Start(const std::string& binary,
                                              const std::vector<std::string>& args,
                                              const StartOptions& options);
  // Starts on a unix socket instead of TCP: `-s <path>` in a fresh temporary directory.
  static std::unique_ptr<ServerProcess> StartUnix(const std::string& binary,
                                                  const std::vector<std::string>& args);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  const std::string& unix_path() const { return unix_path_; }
  pid_t pid() const { return pid_; }
  // SIGTERM and wait up to `timeout`; returns the exit status as from waitpid, or -1. A process
  // that already exited on its own returns the status it exited with.
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // SIGKILL and reap, at once.
  void Kill();
  bool Alive();
  // Polls until the client port accepts a connection; false if the process exits first or the
  // deadline passes.
  bool WaitForPort(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Starts the very same command line again (same ports, same log) once the process is gone.
  bool Restart(bool wait_for_port = true);

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int exit_status_ = -1;  // as from waitpid, once the process was reaped by Alive()
  int port_ = 0;
  std::vector<std::string> argv_;  // everything after the binary, as spawned
  std::string binary_;
  std::string stderr_path_;
  std::string unix_path_;
  std::string temp_dir_;
};

// A blocking client with a receive deadline. All reads fail (return what they have) after it.
class Client {
 public:
  static std::unique_ptr<Client> ConnectTcp(int port);
  static std::unique_ptr<Client> ConnectUnix(const std::string& path);
  ~Client();

  bool Send(const std::string& bytes);
  // Reads until the received bytes end with `terminator` or the deadline passes.
  std::string ReadUntil(const std::string& terminator,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads exactly n bytes (or fewer if the deadline passes or the peer closes).
  std::string ReadBytes(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the server closed the connection within `timeout`.
  bool WaitForClose(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Sends `request` and reads until `terminator`.
  std::string Call(const std::string& request, const std::string& terminator = "\r\n");
  int fd() const { return fd_; }

 private:
  explicit Client(int fd) : fd_(fd) {}
  int fd_;
  std::string pending_;
};

}  // namespace memtwin::testing
