// loadgen: a closed-loop load generator for memcached's text or binary protocol. Each connection
// keeps `--pipeline` requests in flight, sends the next batch when the previous one is answered
// (with --rate: when it is also due on the connection's schedule), and records each request's
// latency. Prints throughput and latency percentiles.
//
//   loadgen --port 11211 --connections 50 --threads 2 --duration 10 --get-ratio 0.9
//           --keys 100000 --value-size 100 --multiget 1 --pipeline 1 [--prefill] [--rate OPS]
//           [--tls] [--binary]
//
// --binary speaks memcached's binary protocol: GET, SET, a multiget as GETKQs ended by a NOOP,
// the prefill as SETQs. --tls speaks TLS (as with memcached -Z) without verifying the server: it
// measures the cost of encryption, not of a PKI.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 11211;
  int connections = 50;
  int threads = 2;
  double duration = 10;
  double get_ratio = 0.9;
  long keys = 100000;
  int value_size = 100;
  int multiget = 1;
  int pipeline = 1;
  bool prefill = false;
  double rate = 0;  // total requests per second; 0 = as fast as replies come back
  bool tls = false;
  bool binary = false;
};

// One connection's byte stream: the socket, or TLS over it. Blocking; the event loop waits for
// readability first, and a TLS read never spans more than the record that made the socket
// readable (OpenSSL reads no further ahead by default).
struct Stream {
  int fd = -1;
  SSL* ssl = nullptr;

  ssize_t Recv(char* buf, size_t size) const {
    if (ssl == nullptr) return recv(fd, buf, size, 0);
    return SSL_read(ssl, buf, static_cast<int>(size));
  }
  bool SendAll(const std::string& data) const {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ssl != nullptr
                            ? SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off))
                            : send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  void Close() {
    if (ssl != nullptr) SSL_free(ssl);
    close(fd);
  }
};

struct ThreadResult {
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> latencies_us;
};

void AppendKey(std::string* out, long i) {
  out->append("key:");
  out->append(std::to_string(i));
}

void AppendSet(std::string* out, long key, const std::string& value, const char* suffix) {
  out->append("set ");
  AppendKey(out, key);
  out->append(" 0 0 ");
  out->append(std::to_string(value.size()));
  out->append(suffix);
  out->append("\r\n");
  out->append(value);
  out->append("\r\n");
}

// memcached's binary protocol: a request header (magic 0x80) with the parts' lengths.
constexpr uint8_t kBinaryGet = 0x00, kBinarySet = 0x01, kBinaryNoop = 0x0a, kBinaryGetKQ = 0x0d,
                  kBinarySetQ = 0x11;
constexpr size_t kBinaryHeader = 24;

void AppendBinary(std::string* out, uint8_t opcode, std::string_view extras, std::string_view key,
                  std::string_view value) {
  const uint32_t body = static_cast<uint32_t>(extras.size() + key.size() + value.size());
  const char header[kBinaryHeader] = {'\x80',
                                      static_cast<char>(opcode),
                                      static_cast<char>(key.size() >> 8),
                                      static_cast<char>(key.size()),
                                      static_cast<char>(extras.size()),
                                      0,
                                      0,
                                      0,
                                      static_cast<char>(body >> 24),
                                      static_cast<char>(body >> 16),
                                      static_cast<char>(body >> 8),
                                      static_cast<char>(body)};  // opaque and CAS zero
  out->append(header, kBinaryHeader);
  out->append(extras);
  out->append(key);
  out->append(value);
}

std::string KeyName(long i) {
  std::string key;
  AppendKey(&key, i);
  return key;
}

void AppendBinarySet(std::string* out, uint8_t opcode, long key, const std::string& value) {
  AppendBinary(out, opcode, std::string_view("\0\0\0\0\0\0\0\0", 8), KeyName(key), value);
}

Stream Connect(const Options& o) {
  Stream stream;
  stream.fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr);
  if (connect(stream.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("connect");
    std::exit(2);
  }
  const int one = 1;
  setsockopt(stream.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (o.tls) {
    static SSL_CTX* const context = SSL_CTX_new(TLS_client_method());
    stream.ssl = SSL_new(context);
    SSL_set_fd(stream.ssl, stream.fd);
    if (SSL_connect(stream.ssl) != 1) {
      std::fprintf(stderr, "TLS handshake with %s:%d failed\n", o.host.c_str(), o.port);
      std::exit(2);
    }
  }
  return stream;
}

// Counts complete replies at the front of `buf`, erasing them. Returns replies and errors seen.
void ConsumeReplies(std::string* buf, int* replies, uint64_t* errors) {
  size_t pos = 0;
  for (;;) {
    const size_t eol = buf->find("\r\n", pos);
    if (eol == std::string::npos) break;
    if (buf->compare(pos, 6, "VALUE ") == 0) {
      // VALUE <key> <flags> <bytes> [<cas>]
      const size_t bytes_at = buf->find(' ', buf->find(' ', pos + 6) + 1) + 1;
      const long bytes = std::strtol(buf->c_str() + bytes_at, nullptr, 10);
      const size_t end = eol + 2 + static_cast<size_t>(bytes) + 2;
      if (end > buf->size()) break;
      pos = end;
      continue;
    }
    const bool ok = buf->compare(pos, 3, "END") == 0 || buf->compare(pos, 6, "STORED") == 0;
    if (!ok) ++*errors;
    ++*replies;
    pos = eol + 2;
  }
  buf->erase(0, pos);
}

// The binary form: every reply but a GETKQ hit answers one request (a multiget's ends with its
// NOOP). Success, or "Not found" for a get, is not an error.
void ConsumeBinaryReplies(std::string* buf, int* replies, uint64_t* errors) {
  size_t pos = 0;
  while (buf->size() - pos >= kBinaryHeader) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>((*buf)[pos + i]); };
    const uint32_t body =
        uint32_t{byte(8)} << 24 | uint32_t{byte(9)} << 16 | uint32_t{byte(10)} << 8 | byte(11);
    if (buf->size() - pos < kBinaryHeader + body) break;
    const uint8_t opcode = byte(1);
    const uint16_t status = static_cast<uint16_t>(byte(6) << 8 | byte(7));
    if (byte(0) != 0x81 || (status != 0 && !(status == 1 && opcode == kBinaryGet))) ++*errors;
    if (opcode != kBinaryGetKQ) ++*replies;
    pos += kBinaryHeader + body;
  }
  buf->erase(0, pos);
}

struct Conn {
  Stream stream;
  int outstanding = 0;
  bool waiting = false;  // paced: the next batch is due at next_send
  SteadyClock::time_point next_send;
  SteadyClock::time_point sent_at;
  std::string in;
};

void RunThread(const Options& o, int connections, uint64_t seed, SteadyClock::time_point until,
               ThreadResult* result) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<long> key_dist(0, o.keys - 1);
  std::uniform_real_distribution<double> op_dist(0, 1);
  const std::string value(static_cast<size_t>(o.value_size), 'x');
  const int ep = epoll_create1(0);
  std::vector<Conn> conns(static_cast<size_t>(connections));
  const auto send_batch = [&](Conn& c) {
    std::string batch;
    for (int i = 0; i < o.pipeline; ++i) {
      if (o.binary) {
        if (op_dist(rng) >= o.get_ratio) {
          AppendBinarySet(&batch, kBinarySet, key_dist(rng), value);
        } else if (o.multiget == 1) {
          AppendBinary(&batch, kBinaryGet, {}, KeyName(key_dist(rng)), {});
        } else {
          for (int k = 0; k < o.multiget; ++k) {
            AppendBinary(&batch, kBinaryGetKQ, {}, KeyName(key_dist(rng)), {});
          }
          AppendBinary(&batch, kBinaryNoop, {}, {}, {});
        }
        continue;
      }
      if (op_dist(rng) < o.get_ratio) {
        batch += "get";
        for (int k = 0; k < o.multiget; ++k) {
          batch += ' ';
          AppendKey(&batch, key_dist(rng));
        }
        batch += "\r\n";
      } else {
        AppendSet(&batch, key_dist(rng), value, "");
      }
    }
    c.outstanding = o.pipeline;
    c.sent_at = SteadyClock::now();
    return c.stream.SendAll(batch);
  };
  // With --rate, each connection sends one batch per `pace` on a fixed schedule, so all of them
  // together offer the requested rate as long as the server keeps up: a late reply or a late
  // wake-up delays that one batch, not every later one. The connections' schedules are spread
  // evenly over one pace, so the load arrives smoothly rather than in bursts of all of them.
  const auto pace = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(o.rate > 0 ? o.connections * o.pipeline / o.rate : 0));
  for (Conn& c : conns) {
    c.stream = Connect(o);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.stream.fd, &ev);
  }
  const auto first_send = SteadyClock::now();
  for (size_t i = 0; i < conns.size(); ++i) {
    if (o.rate > 0) {
      conns[i].waiting = true;
      conns[i].next_send = first_send + pace * static_cast<long>(i) / connections;
    } else if (!send_batch(conns[i])) {
      ++result->errors;
    }
  }
  std::vector<epoll_event> events(static_cast<size_t>(connections));
  char buf[65536];
  while (SteadyClock::now() < until) {
    timespec wait_for{0, 100'000'000};
    if (o.rate > 0) {
      const auto now = SteadyClock::now();
      auto next_due = until;
      for (Conn& c : conns) {
        if (!c.waiting) continue;
        if (c.next_send <= now) {
          c.waiting = false;
          if (!send_batch(c)) ++result->errors;
        } else {
          next_due = std::min(next_due, c.next_send);
        }
      }
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next_due - now).count();
      wait_for = {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    }
    const int n = epoll_pwait2(ep, events.data(), connections, &wait_for, nullptr);
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[static_cast<size_t>(i)].data.ptr);
      const ssize_t r = c.stream.Recv(buf, sizeof(buf));
      if (r <= 0) {
        std::fprintf(stderr, "server closed a connection\n");
        std::exit(2);
      }
      c.in.append(buf, static_cast<size_t>(r));
      int replies = 0;
      (o.binary ? ConsumeBinaryReplies : ConsumeReplies)(&c.in, &replies, &result->errors);
      if (replies == 0) continue;
      c.outstanding -= replies;
      if (c.outstanding <= 0) {
        const auto us =
            std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - c.sent_at)
                .count();
        for (int k = 0; k < o.pipeline; ++k) {
          result->latencies_us.push_back(static_cast<uint32_t>(us));
        }
        result->requests += static_cast<uint64_t>(o.pipeline);
        if (o.rate > 0) {
          c.waiting = true;
          c.next_send += pace;
        } else if (SteadyClock::now() < until && !send_batch(c)) {
          ++result->errors;
        }
      }
    }
  }
  for (Conn& c : conns) c.stream.Close();
  close(ep);
}

// Loads every key with noreply sets, one batch at a time. Over TLS a batch must fit in one TLS
// record (16 KB) and is answered before the next goes out: memcached 1.6.18 with -Z stalls on a
// pipeline that spans records (it waits for the socket while OpenSSL still holds input).
void Prefill(const Options& o) {
  Stream stream = Connect(o);
  const std::string value(static_cast<size_t>(o.value_size), 'x');
  const size_t batch_limit = o.tls ? 12 * 1024 : 64 * 1024;
  std::string batch;
  const auto round_trip = [&] {
    if (o.binary) {
      AppendBinary(&batch, kBinaryNoop, {}, {}, {});
    } else {
      batch += "version\r\n";
    }
    stream.SendAll(batch);
    batch.clear();
    std::string in;
    char buf[4096];
    while (o.binary ? in.size() < kBinaryHeader : in.find("\r\n") == std::string::npos) {
      const ssize_t r = stream.Recv(buf, sizeof(buf));
      if (r <= 0) break;
      in.append(buf, static_cast<size_t>(r));
    }
  };
  for (long i = 0; i < o.keys; ++i) {
    if (o.binary) {
      AppendBinarySet(&batch, kBinarySetQ, i, value);
    } else {
      AppendSet(&batch, i, value, " noreply");
    }
    if (batch.size() > batch_limit) {
      if (o.tls) {
        round_trip();
      } else {
        stream.SendAll(batch);
        batch.clear();
      }
    }
  }
  round_trip();
  stream.Close();
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a server that goes away is reported, not fatal
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (flag == "--host")
      o.host = next();
    else if (flag == "--port")
      o.port = std::atoi(next());
    else if (flag == "--connections")
      o.connections = std::atoi(next());
    else if (flag == "--threads")
      o.threads = std::atoi(next());
    else if (flag == "--duration")
      o.duration = std::atof(next());
    else if (flag == "--get-ratio")
      o.get_ratio = std::atof(next());
    else if (flag == "--keys")
      o.keys = std::atol(next());
    else if (flag == "--value-size")
      o.value_size = std::atoi(next());
    else if (flag == "--multiget")
      o.multiget = std::atoi(next());
    else if (flag == "--pipeline")
      o.pipeline = std::atoi(next());
    else if (flag == "--prefill")
      o.prefill = true;
    else if (flag == "--rate")
      o.rate = std::atof(next());
    else if (flag == "--tls")
      o.tls = true;
    else if (flag == "--binary")
      o.binary = true;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 64;
    }
  }
  o.threads = std::max(1, std::min(o.threads, o.connections));
  if (o.prefill) Prefill(o);
  if (o.duration <= 0) return 0;  // --prefill --duration 0: load the keys and stop
  const auto start = SteadyClock::now();
  const auto until = start + std::chrono::duration_cast<SteadyClock::duration>(
                                 std::chrono::duration<double>(o.duration));
  std::vector<ThreadResult> results(static_cast<size_t>(o.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    const int share = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    threads.emplace_back(RunThread, std::cref(o), share, 1234 + t, until,
                         &results[static_cast<size_t>(t)]);
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  uint64_t requests = 0, errors = 0;
  std::vector<uint32_t> lat;
  for (auto& r : results) {
    requests += r.requests;
    errors += r.errors;
    lat.insert(lat.end(), r.latencies_us.begin(), r.latencies_us.end());
  }
  std::sort(lat.begin(), lat.end());
  const auto pct = [&](double p) -> uint32_t {
    return lat.empty() ? 0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  std::printf("ops_per_sec=%.0f requests=%lu errors=%lu p50_us=%u p99_us=%u p999_us=%u\n",
              requests / elapsed, static_cast<unsigned long>(requests),
              static_cast<unsigned long>(errors), pct(0.50), pct(0.99), pct(0.999));
  return errors == 0 ? 0 : 1;
}
