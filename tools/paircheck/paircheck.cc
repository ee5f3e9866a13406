// paircheck HOST:PORT HOST:PORT — compares the full contents of two memtwin (or memcached)
// nodes: the key lists come from `lru_crawler metadump all`, each item from `mg <key> v f t c`.
// Prints every difference (missing key, value, flags, CAS, TTL off by more than --ttl-slack
// seconds) and exits 1 if there is any, 0 if the nodes are identical, 2 on a connection error.
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

class Connection {
 public:
  bool Open(const std::string& endpoint) {
    const size_t colon = endpoint.rfind(':');
    if (colon == std::string::npos) return false;
    std::string host = endpoint.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    const std::string port = endpoint.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* ai = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &ai) != 0) return false;
    for (addrinfo* a = ai; a != nullptr && fd_ < 0; a = a->ai_next) {
      fd_ = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd_ >= 0 && connect(fd_, a->ai_addr, a->ai_addrlen) != 0) {
        close(fd_);
        fd_ = -1;
      }
    }
    freeaddrinfo(ai);
    return fd_ >= 0;
  }
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }
  bool Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = write(fd_, data.data() + off, data.size() - off);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // One line without its "\n" or "\r\n" (metadump lines end in a bare "\n", as memcached's
  // do); false on EOF.
  bool Line(std::string* line) {
    for (;;) {
      const size_t eol = buf_.find('\n');
      if (eol != std::string::npos) {
        *line = buf_.substr(0, eol > 0 && buf_[eol - 1] == '\r' ? eol - 1 : eol);
        buf_.erase(0, eol + 1);
        return true;
      }
      if (!Fill()) return false;
    }
  }
  bool Bytes(size_t n, std::string* out) {
    while (buf_.size() < n) {
      if (!Fill()) return false;
    }
    *out = buf_.substr(0, n);
    buf_.erase(0, n);
    return true;
  }

 private:
  bool Fill() {
    char tmp[65536];
    const ssize_t n = read(fd_, tmp, sizeof(tmp));
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool Keys(Connection* c, std::set<std::string>* keys) {
  if (!c->Send("lru_crawler metadump all\r\n")) return false;
  std::string line;
  while (c->Line(&line)) {
    if (line == "END") return true;
    if (line.rfind("key=", 0) != 0) {
      std::fprintf(stderr, "unexpected metadump line: %s\n", line.c_str());
      return false;
    }
    keys->insert(UrlDecode(line.substr(4, line.find(' ') - 4)));
  }
  return false;
}

struct Item {
  bool found = false;
  std::string value;
  std::string flags, cas;
  long ttl = -1;
};

bool Fetch(Connection* c, const std::string& key, Item* item) {
  if (!c->Send("mg " + key + " v f t c\r\n")) return false;
  std::string line;
  if (!c->Line(&line)) return false;
  if (line == "EN") return true;
  if (line.rfind("VA ", 0) != 0) {
    std::fprintf(stderr, "unexpected mg reply for %s: %s\n", key.c_str(), line.c_str());
    return false;
  }
  item->found = true;
  size_t pos = 3;
  const size_t len = std::strtoul(line.c_str() + pos, nullptr, 10);
  while ((pos = line.find(' ', pos)) != std::string::npos) {
    ++pos;
    const std::string token = line.substr(pos, line.find(' ', pos) - pos);
    if (token.empty()) continue;
    if (token[0] == 'f') item->flags = token.substr(1);
    if (token[0] == 'c') item->cas = token.substr(1);
    if (token[0] == 't') item->ttl = std::strtol(token.c_str() + 1, nullptr, 10);
  }
  std::string data;
  if (!c->Bytes(len + 2, &data)) return false;
  item->value = data.substr(0, len);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> endpoints;
  long ttl_slack = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--ttl-slack" && i + 1 < argc) {
      ttl_slack = std::atol(argv[++i]);
    } else {
      endpoints.push_back(arg);
    }
  }
  if (endpoints.size() != 2) {
    std::fprintf(stderr, "usage: paircheck [--ttl-slack SECONDS] HOST:PORT HOST:PORT\n");
    return 2;
  }
  Connection a, b;
  std::set<std::string> keys_a, keys_b;
  if (!a.Open(endpoints[0]) || !b.Open(endpoints[1]) || !Keys(&a, &keys_a) || !Keys(&b, &keys_b)) {
    std::fprintf(stderr, "paircheck: cannot read both nodes\n");
    return 2;
  }
  std::set<std::string> all = keys_a;
  all.insert(keys_b.begin(), keys_b.end());
  size_t differences = 0;
  for (const std::string& key : all) {
    Item ia, ib;
    if (!Fetch(&a, key, &ia) || !Fetch(&b, key, &ib)) {
      std::fprintf(stderr, "paircheck: connection lost\n");
      return 2;
    }
    // A key listed by one node may have expired between the listing and the fetch: only a
    // difference in what the two nodes return now counts.
    std::string what;
    if (ia.found != ib.found) {
      what = ia.found ? "missing on second" : "missing on first";
    } else if (!ia.found) {
      continue;
    } else if (ia.value != ib.value) {
      what = "value differs (" + std::to_string(ia.value.size()) + " vs " +
             std::to_string(ib.value.size()) + " bytes)";
    } else if (ia.flags != ib.flags) {
      what = "flags differ (" + ia.flags + " vs " + ib.flags + ")";
    } else if (ia.cas != ib.cas) {
      what = "cas differs (" + ia.cas + " vs " + ib.cas + ")";
    } else if ((ia.ttl < 0) != (ib.ttl < 0) || std::labs(ia.ttl - ib.ttl) > ttl_slack) {
      what = "ttl differs (" + std::to_string(ia.ttl) + " vs " + std::to_string(ib.ttl) + ")";
    } else {
      continue;
    }
    ++differences;
    std::printf("%s: %s\n", key.c_str(), what.c_str());
  }
  std::printf("paircheck: %zu keys compared, %zu differences\n", all.size(), differences);
  return differences == 0 ? 0 : 1;
}
