// The server's configuration: memcached 1.6's command line (plus memtwin's own options), parsed
// once at start-up into an immutable Config that is passed to whoever needs it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/replicator.h"
#include "storage/options.h"

namespace memtwin::server {

// Client TLS, as memcached's -Z and ssl_* extended options.
struct TlsOptions {
  bool enabled = false;                 // -Z
  std::string chain_cert;               // ssl_chain_cert: PEM chain, leaf first
  std::string key;                      // ssl_key: PEM private key (default: the chain file)
  std::string ca_cert;                  // ssl_ca_cert: CAs accepted for client certificates
  int verify_mode = 0;                  // ssl_verify_mode: 0 none, 1 request, 2 require, 3 once
  std::string min_version = "tlsv1.2";  // ssl_min_version: tlsv1, tlsv1.1, tlsv1.2, tlsv1.3
  std::string ciphers;                  // ssl_ciphers (TLS 1.2 and below), OpenSSL list syntax
  bool session_cache = false;           // ssl_session_cache
};

// The replication link's TLS (--repl-tls): always mutual. Files left empty fall back to the
// client ones (ssl_chain_cert, ssl_key, ssl_ca_cert).
struct PeerTlsOptions {
  bool enabled = false;  // --repl-tls
  std::string cert;      // --repl-tls-cert
  std::string key;       // --repl-tls-key
  std::string ca;        // --repl-tls-ca
};

// -B: which protocols a connection may speak. kAuto: binary when its first byte is 0x80.
enum class BindingProtocol { kAuto, kAscii, kBinary };

struct Config {
  int port = 11211;                                   // -p
  int udp_port = 0;                                   // -U
  std::string unix_socket;                            // -s
  int unix_mask = 0700;                               // -a
  std::vector<std::string> listen_addresses;          // -l, empty = all interfaces
  bool daemonize = false;                             // -d
  std::string user;                                   // -u
  bool lock_memory = false;                           // -k
  int verbose = 0;                                    // -v, -vv, -vvv
  std::string pid_file;                               // -P
  int threads = 4;                                    // -t
  int max_connections = 1024;                         // -c
  int requests_per_event = 20;                        // -R
  bool cas_enabled = true;                            // -C turns off
  int backlog = 1024;                                 // -b
  bool enable_shutdown = false;                       // -A
  bool flush_enabled = true;                          // -F turns off
  BindingProtocol protocol = BindingProtocol::kAuto;  // -B
  storage::StorageOptions storage;                    // -m -M -f -n -I -L, -o hashpower, LRU
  bool lru_maintainer = true;                         // -o no_lru_maintainer turns off
  bool lru_crawler = true;                            // -o no_lru_crawler turns off
  uint32_t lru_crawler_sleep = 100;                   // -o lru_crawler_sleep, µs per 1,000 items
  uint32_t lru_crawler_tocrawl = 0;                   // -o lru_crawler_tocrawl, 0 = no limit
  // -o slab_automove, slab_automove_ratio: recorded and shown, as by memcached without
  // slab_reassign; memtwin moves no pages (the "slabs automove" command changes them too).
  uint32_t slab_automove = 0;
  double slab_automove_ratio = 0.8;
  // -o worker_slice_us: the scheduler time slice each worker thread asks for (0: the kernel's
  // default). See server/scheduler_slice.h.
  int worker_slice_us = 0;
  // Workers read, then send, for a whole pass in one io_uring_enter each (server/socket_ring.h);
  // -o no_io_uring: one read() and write() per connection. main turns it off when the kernel
  // offers no io_uring.
  bool io_uring = true;
  TlsOptions tls;           // -Z, -o ssl_*
  PeerTlsOptions peer_tls;  // --repl-tls*
  // -X (listen_port; 0 = off), -x (peer_host/peer_port), --repl-log-size, --repl-heartbeat,
  // --repl-timeout, --repl-sync-timeout, --repl-tls-name, --repl-secret-file (read at parse
  // time, before privileges are dropped, so the file may be readable by root only)
  replication::ReplicationOptions replication;
};

// One -l entry: HOST, HOST:PORT, [V6ADDR] or [V6ADDR]:PORT, optionally prefixed with memcached's
// "notls:" (a plain-text listener while -Z is on).
struct ListenAddress {
  std::string host;  // empty = all interfaces
  std::string port;  // empty = -p
  bool tls_opt_out = false;
};
ListenAddress ParseListenAddress(std::string_view spec);

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
