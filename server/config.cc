#include "server/config.h"

#include <getopt.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/text_parser.h"

namespace memtwin::server {
namespace {

// One row per option: the single table behind getopt, -h and the tests.
struct OptionSpec {
  const char* long_name;
  int has_arg;
  int short_name;
  const char* help;
};

constexpr int kNoShort = 256;  // long-only options get ids from here up

constexpr OptionSpec kOptions[] = {
    {"port", required_argument, 'p', "TCP port to listen on (default: 11211)"},
    {"udp-port", required_argument, 'U', "UDP port to listen on (default: 0, off)"},
    {"unix-socket", required_argument, 's', "UNIX socket to listen on"},
    {"unix-mask", required_argument, 'a', "access mask for UNIX socket, in octal (default: 700)"},
    {"enable-shutdown", no_argument, 'A', "enable ascii \"shutdown\" command"},
    {"listen", required_argument, 'l', "interfaces to listen on, comma separated (default: all)"},
    {"daemon", no_argument, 'd', "run as a daemon"},
    {"user", required_argument, 'u', "assume identity of <username> (only when run as root)"},
    {"memory-limit", required_argument, 'm', "item memory in megabytes (default: 64)"},
    {"disable-evictions", no_argument, 'M', "return error on memory exhausted instead of evicting"},
    {"conn-limit", required_argument, 'c', "max simultaneous connections (default: 1024)"},
    {"lock-memory", no_argument, 'k', "lock down all paged memory"},
    {"verbose", no_argument, 'v', "verbose; -vv also prints the slab classes"},
    {"help", no_argument, 'h', "print this help and exit"},
    {"version", no_argument, 'V', "print version and exit"},
    {"pidfile", required_argument, 'P', "save PID in <file>"},
    {"slab-growth-factor", required_argument, 'f', "chunk size growth factor (default: 1.25)"},
    {"slab-min-size", required_argument, 'n', "min space used for key+value+flags (default: 48)"},
    {"enable-largepages", no_argument, 'L', "preallocate all item memory at start"},
    {"threads", required_argument, 't', "number of worker threads (default: 4)"},
    {"max-reqs-per-event", required_argument, 'R',
     "maximum number of requests per event (default: 20)"},
    {"disable-cas", no_argument, 'C', "disable use of CAS"},
    {"listen-backlog", required_argument, 'b', "set the backlog queue limit (default: 1024)"},
    {"protocol", required_argument, 'B', "protocol: auto, ascii or binary (default: auto)"},
    {"max-item-size", required_argument, 'I',
     "adjusts max item size (default: 1m, min: 1k, max: 1024m)"},
    {"disable-flush-all", no_argument, 'F', "disable flush_all command"},
    {"extended", required_argument, 'o', "comma separated list of extended options"},
    {"disable-dumping", no_argument, kNoShort, "accepted for compatibility; no effect yet"},
    // Replication options start here: UsageText prints them under their own heading.
    {"replication-port", required_argument, 'X',
     "replication port to listen on for the peer (default: 11212; 0 turns replication off)"},
    {"peer", required_argument, 'x',
     "the peer: HOST[:PORT], IPv6 as [ADDR]:PORT (PORT defaults to our -X)"},
    {"repl-log-size", required_argument, kNoShort + 1,
     "outgoing replication log, k/m/g suffixes (default: 64m)"},
    {"repl-heartbeat", required_argument, kNoShort + 2,
     "seconds between heartbeats, or Nms (default: 1)"},
    {"repl-timeout", required_argument, kNoShort + 3,
     "seconds of silence before the peer is declared lost, or Nms (default: 3)"},
    {"repl-sync-timeout", required_argument, kNoShort + 4,
     "seconds a joining node waits for its bulk sync before serving anyway (default: 60)"},
    // TLS and peer authentication: UsageText prints them under their own heading.
    {"enable-ssl", no_argument, 'Z',
     "enable TLS for clients (-o ssl_chain_cert=,ssl_key=,ssl_ca_cert=,ssl_verify_mode=0-3,"
     "ssl_min_version=,ssl_ciphers=,ssl_session_cache; -l notls:ADDR:PORT opts a listener out)"},
    {"repl-tls", no_argument, kNoShort + 5,
     "mutual TLS on the replication link (uses ssl_chain_cert/ssl_key/ssl_ca_cert unless the "
     "--repl-tls-* files are given)"},
    {"repl-tls-cert", required_argument, kNoShort + 6, "this node's certificate chain (PEM)"},
    {"repl-tls-key", required_argument, kNoShort + 7, "this node's private key (PEM)"},
    {"repl-tls-ca", required_argument, kNoShort + 8, "CA certificates that sign the peer (PEM)"},
    {"repl-tls-name", required_argument, kNoShort + 9,
     "a DNS name or IP the peer's certificate must carry (default: any cert the CA signed)"},
    {"repl-secret-file", required_argument, kNoShort + 10,
     "file holding a shared secret (>= 16 bytes); both nodes prove they know it before any data "
     "flows"},
};

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Sizes like memcached's -I: a number with an optional k, m or g suffix (either case).
bool ParseSize(std::string_view s, uint64_t default_unit, uint64_t* out) {
  uint64_t unit = default_unit;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k':
      case 'K':
        unit = 1ull << 10;
        s.remove_suffix(1);
        break;
      case 'm':
      case 'M':
        unit = 1ull << 20;
        s.remove_suffix(1);
        break;
      case 'g':
      case 'G':
        unit = 1ull << 30;
        s.remove_suffix(1);
        break;
    }
  }
  int64_t n;
  if (!ParseInt(s, &n) || n < 0) return false;
  *out = static_cast<uint64_t>(n) * unit;
  return true;
}

// "3", "2.5" or "3s" seconds, or "500ms".
bool ParseMillis(std::string_view s, int* out) {
  const bool ms = s.size() > 2 && s.substr(s.size() - 2) == "ms";
  if (ms) {
    s.remove_suffix(2);
  } else if (s.size() > 1 && s.back() == 's') {
    s.remove_suffix(1);
  }
  const std::string text(s);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v > 0) || v > 86400e3) return false;
  *out = static_cast<int>(ms ? v : v * 1000);
  return *out > 0;
}

absl::Status ParsePeer(std::string_view peer, Config* config) {
  std::string host(peer);
  int port = 0;
  const auto parse_port = [&](std::string_view p) {
    int64_t n;
    if (!ParseInt(p, &n) || n <= 0 || n > 65535) return false;
    port = static_cast<int>(n);
    return true;
  };
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string::npos) return Invalid("Invalid peer address: missing ']'");
    if (close + 1 < host.size() &&
        (host[close + 1] != ':' || !parse_port(std::string_view(host).substr(close + 2)))) {
      return Invalid("Invalid peer port");
    }
    host = host.substr(1, close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    if (!parse_port(std::string_view(host).substr(host.find(':') + 1))) {
      return Invalid("Invalid peer port");
    }
    host = host.substr(0, host.find(':'));
  }
  if (host.empty()) return Invalid("Invalid peer address");
  config->replication.peer_host = host;
  config->replication.peer_port = port;  // 0: filled in from -X after parsing
  return absl::OkStatus();
}

// The shared secret of --repl-secret-file: the file's bytes without trailing whitespace, so
// `openssl rand -hex 32 > FILE` works as is.
absl::Status ReadSecret(const std::string& path, std::string* secret) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Invalid(absl::StrCat("--repl-secret-file: cannot read ", path, ": ", strerror(errno)));
  }
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!contents.empty() && std::isspace(static_cast<unsigned char>(contents.back()))) {
    contents.pop_back();
  }
  if (contents.size() < 16) {
    return Invalid(
        absl::StrCat("--repl-secret-file: ", path, " must hold a secret of at least 16 bytes"));
  }
  *secret = std::move(contents);
  return absl::OkStatus();
}

absl::Status ParseExtended(std::string_view list, Config* config) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    if (name == "hashpower") {
      // memcached 1.6.18's messages; it reads the value with atoi, so "abc" is "of 0".
      if (eq == std::string_view::npos) return Invalid("Missing numeric argument for hashpower");
      int64_t n;
      if (!ParseInt(value, &n)) n = 0;
      if (n < 12) {
        return Invalid(absl::StrCat("Initial hashtable multiplier of ", n, " is too low"));
      }
      if (n > 32) {
        return Invalid(absl::StrCat("Initial hashtable multiplier of ", n,
                                    " is too high\nChoose a value based on \"STAT "
                                    "hash_power_level\" from a running instance"));
      }
      config->storage.hash_power_initial = static_cast<uint32_t>(n);
    } else if (name == "lru_maintainer" || name == "no_lru_maintainer" || name == "no_modern") {
      // As memcached: the segmented LRU needs the maintainer thread, and goes with it.
      config->lru_maintainer = name == "lru_maintainer";
      config->storage.lru_segmented = config->lru_maintainer;
      if (name == "no_modern") config->lru_crawler = false;
    } else if (name == "lru_crawler" || name == "no_lru_crawler") {
      config->lru_crawler = name == "lru_crawler";
    } else if (name == "lru_crawler_sleep" || name == "lru_crawler_tocrawl") {
      // memcached's messages. It reads the sleep with atoi, so "abc" is 0; we refuse it.
      const bool sleep = name == "lru_crawler_sleep";
      if (eq == std::string_view::npos) {
        return Invalid(absl::StrCat("Missing ", std::string(name), " value"));
      }
      int64_t n;
      if (!ParseInt(value, &n) || n < 0 || n > (sleep ? 1000000 : int64_t{UINT32_MAX})) {
        return Invalid(sleep ? "LRU crawler sleep must be between 0 and 1 second"
                             : "lru_crawler_tocrawl takes a numeric 32bit value");
      }
      (sleep ? config->lru_crawler_sleep : config->lru_crawler_tocrawl) = static_cast<uint32_t>(n);
    } else if (name == "slab_automove") {
      // memcached's message; a bare slab_automove means 1, and atoi reads "abc" as 0.
      int64_t n = 1;
      if (eq != std::string_view::npos && !ParseInt(value, &n)) n = 0;
      if (n < 0 || n > 2) return Invalid("slab_automove must be between 0 and 2");
      config->slab_automove = static_cast<uint32_t>(n);
    } else if (name == "slab_automove_ratio") {
      if (eq == std::string_view::npos) return Invalid("Missing slab_automove_ratio argument");
      double ratio;
      if (!text::ParseDouble(value, &ratio) || !(ratio > 0) || ratio > 1) {
        return Invalid("slab_automove_ratio must be > 0 and < 1");
      }
      config->slab_automove_ratio = ratio;
    } else if (name == "hot_lru_pct" || name == "warm_lru_pct") {
      int64_t n;
      if (!ParseInt(value, &n) || n < 1 || n >= 80) {
        return Invalid(absl::StrCat(std::string(name), " must be > 1 and < 80"));
      }
      (name == "hot_lru_pct" ? config->storage.hot_lru_pct : config->storage.warm_lru_pct) =
          static_cast<uint32_t>(n);
    } else if (name == "hot_max_factor" || name == "warm_max_factor") {
      // memcached reads them with atof, which also takes "0.5x"; we refuse what is not a number.
      double factor;
      if (!text::ParseDouble(value, &factor) || !(factor > 0)) {
        return Invalid(absl::StrCat(std::string(name), " must be > 0"));
      }
      (name == "hot_max_factor" ? config->storage.hot_max_factor
                                : config->storage.warm_max_factor) = factor;
    } else if (name == "io_uring" || name == "no_io_uring") {
      config->io_uring = name == "io_uring";
    } else if (name == "worker_slice_us") {
      int64_t n;
      if (!ParseInt(value, &n) || (n != 0 && (n < 100 || n > 100000))) {
        return Invalid("worker_slice_us must be 0 (the kernel's default) or from 100 to 100000");
      }
      config->worker_slice_us = static_cast<int>(n);
    } else if (name == "ssl_chain_cert") {
      config->tls.chain_cert = std::string(value);
    } else if (name == "ssl_key") {
      config->tls.key = std::string(value);
    } else if (name == "ssl_ca_cert") {
      config->tls.ca_cert = std::string(value);
    } else if (name == "ssl_verify_mode") {
      int64_t n;
      if (!ParseInt(value, &n) || n < 0 || n > 3) {
        return Invalid("ssl_verify_mode must be 0 (none), 1 (request), 2 (require) or 3 (once)");
      }
      config->tls.verify_mode = static_cast<int>(n);
    } else if (name == "ssl_min_version") {
      if (value != "tlsv1" && value != "tlsv1.1" && value != "tlsv1.2" && value != "tlsv1.3") {
        return Invalid("ssl_min_version must be tlsv1, tlsv1.1, tlsv1.2 or tlsv1.3");
      }
      config->tls.min_version = std::string(value);
    } else if (name == "ssl_ciphers") {
      config->tls.ciphers = std::string(value);
    } else if (name == "ssl_session_cache") {
      config->tls.session_cache = true;
    } else if (name == "ssl_keyformat") {
      if (value != "0" && value != "1" && value != "PEM") {
        return Invalid("ssl_keyformat: only PEM keys are supported");
      }
    } else if (name == "ssl_wbuf_size" || name == "ssl_kernel_tls") {
      // memcached buffer tuning; OpenSSL's own buffering serves us.
    } else if (name == "modern" || name == "maxconns_fast" || name == "no_maxconns_fast" ||
               name == "slab_reassign" || name == "hash_algorithm" || name == "idle_timeout" ||
               name == "track_sizes" || name == "no_hashexpand" || name == "slab_chunk_max" ||
               name == "tail_repair_time" || name == "read_buf_mem_limit" ||
               name == "temporary_ttl" || name == "temp_lru" || name == "watcher_logbuf_size" ||
               name == "worker_logbuf_size" || name == "resp_obj_mem_limit") {
      // memcached tuning knobs that our design does not need: accepted so existing command
      // lines keep working.
    } else {
      return Invalid(absl::StrCat("Illegal suboption \"", std::string(item), "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedCommandLine> ParseCommandLine(int argc, char** argv) {
  ParsedCommandLine parsed;
  Config& c = parsed.config;
  std::vector<option> long_options;
  std::string short_options;
  for (const OptionSpec& o : kOptions) {
    long_options.push_back({o.long_name, o.has_arg, nullptr, o.short_name});
    if (o.short_name < kNoShort) {
      short_options += static_cast<char>(o.short_name);
      if (o.has_arg == required_argument) short_options += ':';
    }
  }
  long_options.push_back({nullptr, 0, nullptr, 0});
  uint64_t item_size_max = c.storage.item_size_max;
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, short_options.c_str(), long_options.data(), nullptr)) !=
         -1) {
    const std::string_view arg = optarg != nullptr ? optarg : "";
    int64_t n = 0;
    switch (ch) {
      case 'p':
        if (!ParseInt(arg, &n)) return Invalid("Invalid port number");
        if (n < 0 || n > 65535) return Invalid(absl::StrCat("ERROR: Invalid port number ", n, "."));
        c.port = static_cast<int>(n);
        break;
      case 'U':
        if (!ParseInt(arg, &n) || n < 0 || n > 65535) return Invalid("Invalid UDP port number");
        c.udp_port = static_cast<int>(n);
        break;
      case 's':
        c.unix_socket = std::string(arg);
        break;
      case 'a': {
        const auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), n, 8);
        if (ec != std::errc() || ptr != arg.data() + arg.size() || n < 0 || n > 0777) {
          return Invalid("Invalid unix socket mask");
        }
        c.unix_mask = static_cast<int>(n);
        break;
      }
      case 'A':
        c.enable_shutdown = true;
        break;
      case 'l': {
        std::string_view list = arg;
        while (!list.empty()) {
          const size_t comma = list.find(',');
          c.listen_addresses.emplace_back(list.substr(0, comma));
          list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
        break;
      }
      case 'd':
        c.daemonize = true;
        break;
      case 'u':
        c.user = std::string(arg);
        break;
      case 'm': {
        uint64_t bytes;
        if (!ParseSize(arg, 1ull << 20, &bytes) || bytes == 0) {
          return Invalid("Invalid value for -m: memory limit in megabytes expected");
        }
        c.storage.memory_limit = bytes;
        break;
      }
      case 'M':
        c.storage.evict = false;
        break;
      case 'c':
        if (!ParseInt(arg, &n) || n <= 0) {
          return Invalid("Maximum connections must be greater than 0");
        }
        c.max_connections = static_cast<int>(n);
        break;
      case 'k':
        c.lock_memory = true;
        break;
      case 'v':
        ++c.verbose;
        break;
      case 'h':
        parsed.action = CommandLineAction::kHelp;
        break;
      case 'V':
        parsed.action = CommandLineAction::kVersion;
        break;
      case 'P':
        c.pid_file = std::string(arg);
        break;
      case 'f': {
        const std::string s(arg);
        char* end = nullptr;
        const double f = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !(f > 1.0))
          return Invalid("Factor must be greater than 1");
        c.storage.growth_factor = f;
        break;
      }
      case 'n':
        if (!ParseInt(arg, &n) || n <= 0) return Invalid("Chunk size must be greater than 0");
        c.storage.min_value_space = static_cast<size_t>(n);
        break;
      case 'L':
        c.storage.preallocate = true;
        break;
      case 't':
        if (!ParseInt(arg, &n) || n <= 0) {
          return Invalid("Number of threads must be greater than 0");
        }
        c.threads = static_cast<int>(n);
        break;
      case 'R':
        if (!ParseInt(arg, &n) || n <= 0) {
          return Invalid("Number of requests per event must be greater than 0");
        }
        c.requests_per_event = static_cast<int>(n);
        break;
      case 'C':
        c.cas_enabled = false;
        break;
      case 'b':
        // memcached passes any number to listen(); 0 still queues one connection on Linux.
        if (!ParseInt(arg, &n) || n < 0) return Invalid("Invalid listen backlog");
        c.backlog = static_cast<int>(n);
        break;
      case 'B':
        if (arg == "auto") {
          c.protocol = BindingProtocol::kAuto;
        } else if (arg == "ascii") {
          c.protocol = BindingProtocol::kAscii;
        } else if (arg == "binary") {
          c.protocol = BindingProtocol::kBinary;
        } else {
          return Invalid(absl::StrCat("Invalid value for binding protocol: ", std::string(arg),
                                      "\n -- should be one of auto, binary, or ascii"));
        }
        break;
      case 'I':
        if (!ParseSize(arg, 1, &item_size_max)) {
          return Invalid("Invalid value for -I: size with optional k or m suffix expected");
        }
        break;
      case 'F':
        c.flush_enabled = false;
        break;
      case 'o': {
        absl::Status s = ParseExtended(arg, &c);
        if (!s.ok()) return s;
        break;
      }
      case kNoShort:  // --disable-dumping
        break;
      case 'Z':
        c.tls.enabled = true;
        break;
      case 'X':
        if (!ParseInt(arg, &n) || n < 0 || n > 65535) {
          return Invalid("Invalid replication port number");
        }
        c.replication.listen_port = static_cast<int>(n);
        break;
      case 'x': {
        absl::Status s = ParsePeer(arg, &c);
        if (!s.ok()) return s;
        break;
      }
      case kNoShort + 1: {
        uint64_t bytes;
        if (!ParseSize(arg, 1, &bytes) || bytes == 0) return Invalid("Invalid --repl-log-size");
        c.replication.log_size = bytes;
        break;
      }
      case kNoShort + 2:
        if (!ParseMillis(arg, &c.replication.heartbeat_ms)) {
          return Invalid("Invalid --repl-heartbeat");
        }
        break;
      case kNoShort + 3:
        if (!ParseMillis(arg, &c.replication.timeout_ms)) return Invalid("Invalid --repl-timeout");
        break;
      case kNoShort + 4:
        if (!ParseMillis(arg, &c.replication.sync_timeout_ms)) {
          return Invalid("Invalid --repl-sync-timeout");
        }
        break;
      case kNoShort + 5:
        c.peer_tls.enabled = true;
        break;
      case kNoShort + 6:
        c.peer_tls.cert = std::string(arg);
        break;
      case kNoShort + 7:
        c.peer_tls.key = std::string(arg);
        break;
      case kNoShort + 8:
        c.peer_tls.ca = std::string(arg);
        break;
      case kNoShort + 9:
        c.replication.tls_peer_name = std::string(arg);
        break;
      case kNoShort + 10: {
        absl::Status s = ReadSecret(std::string(arg), &c.replication.secret);
        if (!s.ok()) return s;
        break;
      }
      default:
        return Invalid(optopt != 0 && optopt < kNoShort
                           ? absl::StrCat("Illegal argument \"", std::string(1, char(optopt)), "\"")
                           : absl::StrCat("Illegal argument \"", argv[optind - 1], "\""));
    }
  }
  if (optind < argc) {
    return Invalid(absl::StrCat("Unexpected argument \"", argv[optind], "\""));
  }
  if (item_size_max < 1024) return Invalid("Item max size cannot be less than 1024 bytes.");
  if (item_size_max > (1ull << 30)) return Invalid("Cannot set item size limit higher than 1 GB.");
  if (item_size_max > c.storage.memory_limit / 2) {
    return Invalid("Cannot set item size limit higher than 1/2 of memory max.");
  }
  c.storage.item_size_max = item_size_max;
  if (c.storage.hot_lru_pct + c.storage.warm_lru_pct > 80) {
    return Invalid("hot_lru_pct + warm_lru_pct cannot be more than 80% combined");
  }
  if (c.replication.peer_port == 0) c.replication.peer_port = c.replication.listen_port;
  if (!c.replication.peer_host.empty() && c.replication.peer_port == 0) {
    return Invalid("-x needs a port when -X is 0");
  }
  if (c.replication.log_size < 2 * item_size_max) {
    return Invalid("--repl-log-size must be at least twice the max item size (-I)");
  }
  if (c.replication.heartbeat_ms * 2 > c.replication.timeout_ms) {
    // Otherwise one late heartbeat drops the link, and it flaps.
    return Invalid("--repl-timeout must be at least twice --repl-heartbeat");
  }
  if (c.tls.enabled && c.tls.chain_cert.empty()) {
    return Invalid("-Z needs a certificate: -o ssl_chain_cert=FILE[,ssl_key=FILE]");
  }
  if (c.tls.key.empty()) c.tls.key = c.tls.chain_cert;  // as memcached: key may be in the chain
  if (c.peer_tls.enabled) {
    if (c.peer_tls.cert.empty()) c.peer_tls.cert = c.tls.chain_cert;
    if (c.peer_tls.key.empty())
      c.peer_tls.key = c.peer_tls.cert == c.tls.chain_cert ? c.tls.key : c.peer_tls.cert;
    if (c.peer_tls.ca.empty()) c.peer_tls.ca = c.tls.ca_cert;
    if (c.peer_tls.cert.empty() || c.peer_tls.ca.empty()) {
      return Invalid(
          "--repl-tls needs this node's certificate and the CA that signs the peer: "
          "--repl-tls-cert, --repl-tls-key, --repl-tls-ca (or -o ssl_chain_cert, ssl_key, "
          "ssl_ca_cert)");
    }
  } else if (!c.peer_tls.cert.empty() || !c.peer_tls.key.empty() || !c.peer_tls.ca.empty() ||
             !c.replication.tls_peer_name.empty()) {
    return Invalid(
        "--repl-tls-cert, --repl-tls-key, --repl-tls-ca and --repl-tls-name need "
        "--repl-tls");
  }
  c.replication.verbose = c.verbose;
  // The replication port listens where the client port does (the first -l address).
  if (!c.listen_addresses.empty()) {
    c.replication.listen_address = ParseListenAddress(c.listen_addresses.front()).host;
  }
  if (c.udp_port != 0) {
    return Invalid("UDP (-U) is not supported by memtwin; run with -U 0 (the default)");
  }
  return parsed;
}

ListenAddress ParseListenAddress(std::string_view spec) {
  ListenAddress address;
  constexpr std::string_view kNoTls = "notls:";
  if (spec.substr(0, kNoTls.size()) == kNoTls) {
    address.tls_opt_out = true;
    spec.remove_prefix(kNoTls.size());
  }
  if (!spec.empty() && spec.front() == '[') {
    const size_t close = spec.find(']');
    if (close != std::string_view::npos) {
      if (close + 1 < spec.size() && spec[close + 1] == ':') {
        address.port = std::string(spec.substr(close + 2));
      }
      address.host = std::string(spec.substr(1, close - 1));
      return address;
    }
  } else if (std::count(spec.begin(), spec.end(), ':') == 1) {
    address.port = std::string(spec.substr(spec.find(':') + 1));
    spec = spec.substr(0, spec.find(':'));
  }
  address.host = std::string(spec);
  return address;
}

std::string UsageText() {
  std::string out = absl::StrCat("memtwin ", kVersion,
                                 " - a memcached-compatible cache with built-in replication\n");
  absl::StrAppend(&out, "\nmemcached options:\n");
  for (const OptionSpec& o : kOptions) {
    if (std::string_view(o.long_name) == "replication-port") {
      absl::StrAppend(&out, "\nreplication options:\n");
    }
    if (std::string_view(o.long_name) == "enable-ssl") {
      absl::StrAppend(&out, "\nTLS and peer authentication options:\n");
    }
    std::string left =
        o.short_name < kNoShort
            ? absl::StrCat("-", std::string(1, char(o.short_name)), ", --", o.long_name)
            : absl::StrCat("    --", o.long_name);
    if (o.has_arg == required_argument) left += "=<arg>";
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&out, left, " ", o.help, "\n");
  }
  return out;
}

}  // namespace memtwin::server
