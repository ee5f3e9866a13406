// The server's configuration: memcached 1.6's command line (plus memtwin's own options), parsed
// once at start-up into an immutable Config that is passed to whoever needs it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/replicator.h"
#include "storage/options.h"

namespace memtwin::server {

struct Config {
  int port = 11211;                           // -p
  int udp_port = 0;                           // -U
  std::string unix_socket;                    // -s
  int unix_mask = 0700;                       // -a
  std::vector<std::string> listen_addresses;  // -l, empty = all interfaces
  bool daemonize = false;                     // -d
  std::string user;                           // -u
  bool lock_memory = false;                   // -k
  int verbose = 0;                            // -v, -vv, -vvv
  std::string pid_file;                       // -P
  int threads = 4;                            // -t
  int max_connections = 1024;                 // -c
  int requests_per_event = 20;                // -R
  bool cas_enabled = true;                    // -C turns off
  int backlog = 1024;                         // -b
  bool enable_shutdown = false;               // -A
  bool flush_enabled = true;                  // -F turns off
  storage::StorageOptions storage;            // -m -M -f -n -I -L, -o hashpower
  // -X (listen_port; 0 = off), -x (peer_host/peer_port), --repl-log-size, --repl-heartbeat,
  // --repl-timeout, --repl-sync-timeout
  replication::ReplicationOptions replication;
};

// What the command line asked for.
enum class CommandLineAction { kRun, kHelp, kVersion };

struct ParsedCommandLine {
  CommandLineAction action = CommandLineAction::kRun;
  Config config;
};

// Parses argv like memcached does. Errors carry the message to print; the caller exits with 64
// (EX_USAGE), as memcached does for a bad flag.
absl::StatusOr<ParsedCommandLine> ParseCommandLine(int argc, char** argv);

// The text printed by -h.
std::string UsageText();

inline constexpr char kVersion[] = "1.6.18-memtwin-0.1.0";

}  // namespace memtwin::server
