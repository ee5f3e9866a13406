// memcached's text protocol: each request is parsed by server/text_parser.h, executed against the
// Store, and answered with the bytes memcached 1.6.18 sends (checked against the binary; see
// tests/unit/server/text_protocol_test.cc). The grammar is at the top of text_parser.cc.
//
// A storage command is handled only once its whole data block has arrived, so the value is a
// view into the connection's buffer and is never copied here. A block that cannot be stored
// because it is too large is discarded as it arrives instead (swallow_), like memcached's
// conn_swallow, so the connection never buffers it.
#include "server/text_protocol.h"

#include <event2/event.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "absl/strings/str_format.h"
#include "server/encoding.h"
#include "server/meta_protocol.h"
#include "server/reply.h"
#include "server/text_parser.h"
#include "storage/item.h"
#include "storage/lru_crawler.h"
#include "storage/store.h"

namespace memtwin::server {
namespace {

using storage::DeleteResult;
using storage::DeltaResult;
using storage::ItemView;
using storage::LookupResult;
using storage::StoreMode;
using storage::StoreResult;
using text::Command;
using text::TokenizedLine;

constexpr std::string_view kError = "ERROR";
constexpr std::string_view kOk = "OK";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta argument";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument";
constexpr std::string_view kDeleteUsage =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
constexpr std::string_view kFlushNotAllowed = "CLIENT_ERROR flush_all not allowed";
constexpr std::string_view kShutdownNotEnabled = "ERROR: shutdown not enabled";
constexpr std::string_view kBadShutdownMode = "CLIENT_ERROR invalid shutdown mode";
constexpr std::string_view kMemlimitTooSmall =
    "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m";
constexpr std::string_view kMemlimitNotBytes =
    "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes";
constexpr std::string_view kMemlimitFailed =
    "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust";

// memcached's MAX_VERBOSITY_LEVEL.
constexpr uint32_t kMaxVerbosity = 2;
// cache_memlimit's bounds, in megabytes.
constexpr uint32_t kMinMemlimitMb = 8;
constexpr uint32_t kMaxMemlimitMb = 1000000000;
// lru_crawler's limits: class ids below memcached's MAX_NUMBER_OF_SLAB_CLASSES, sleep in µs.
constexpr uint32_t kMaxSlabClassId = storage::LruCrawler::kMaxClassId;
constexpr uint32_t kMaxCrawlerSleep = 1000000;
constexpr size_t kMetadumpGroupsPerStep = 256;

// ---------------------------------------------------------------------------------------------
// Output helpers (see also server/reply.h).

void Stat(std::string* out, std::string_view name, std::string_view value) {
  out->append("STAT ");
  out->append(name);
  out->push_back(' ');
  out->append(value);
  out->append("\r\n");
}

void Stat(std::string* out, std::string_view name, uint64_t value) {
  out->append("STAT ");
  out->append(name);
  out->push_back(' ');
  AppendNumber(out, value);
  out->append("\r\n");
}

// "STAT <prefix><id>:<name> <value>", the per-class form of "stats items" and "stats slabs".
void ClassStat(std::string* out, std::string_view prefix, int id, std::string_view name,
               uint64_t value) {
  out->append("STAT ");
  out->append(prefix);
  AppendSigned(out, id);
  out->push_back(':');
  out->append(name);
  out->push_back(' ');
  AppendNumber(out, value);
  out->append("\r\n");
}

std::string_view YesNo(bool b) { return b ? "yes" : "no"; }

// memcached's names (its state_text), for "stats conns".
std::string_view ConnStateName(ConnState state) {
  switch (state) {
    case ConnState::kListening:
      return "conn_listening";
    case ConnState::kNewCmd:
      return "conn_new_cmd";
    case ConnState::kRead:
      return "conn_read";
    case ConnState::kParseCmd:
      return "conn_parse_cmd";
    case ConnState::kNread:
      return "conn_nread";
    case ConnState::kMwrite:
      return "conn_mwrite";
    case ConnState::kClosing:
      return "conn_closing";
  }
  return "conn_closed";
}

// printf into a small buffer, for the few stats memcached prints with a format.
template <typename... Args>
std::string_view Format(char (&buf)[64], const char* fmt, Args... args) {
  const int n = std::snprintf(buf, sizeof(buf), fmt, args...);
  return std::string_view(buf, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), 63));
}

bool IsStorage(Command c) {
  switch (c) {
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return true;
    default:
      return false;
  }
}

StoreMode ModeFor(Command c) {
  switch (c) {
    case Command::kAdd:
      return StoreMode::kAdd;
    case Command::kReplace:
      return StoreMode::kReplace;
    case Command::kAppend:
      return StoreMode::kAppend;
    case Command::kPrepend:
      return StoreMode::kPrepend;
    case Command::kCas:
      return StoreMode::kCas;
    default:
      return StoreMode::kSet;
  }
}

void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) { ThreadStats::Add(counter, n); }

// ---------------------------------------------------------------------------------------------
// Executes one request at a time for TextProtocol::Process.

class Runner {
 public:
  using Step = RequestStep;

  Runner(ServerContext* context, ThreadStats* stats, uint64_t* swallow, std::string* out)
      : context_(context),
        stats_(stats),
        store_(context->store),
        config_(context->config),
        swallow_(swallow),
        out_(out),
        meta_(context, stats, out) {}

  Step Handle(std::string_view in, size_t* used);

  // Whether Handle would act on `in` now (for kYield: only say so when there is work waiting).
  bool HasCompleteRequest(std::string_view in) const;

 private:
  // Size check done when the header arrives, so that a rejected block can be swallowed; the
  // rule is the Store's own (header + key + value within -I).
  bool TooLarge(const text::StorageHeader& h) const {
    return storage::Item::TotalSize(h.key.size(), h.bytes) > store_->item_size_max();
  }

  Step Dispatch(const TokenizedLine& t, Command command, std::string_view after, size_t* used);
  Step Storage(const TokenizedLine& t, Command command, std::string_view after, size_t* used);
  void Retrieve(const TokenizedLine& t, bool with_cas, bool touch);
  void Arithmetic(const TokenizedLine& t, bool incr);
  void Touch(const TokenizedLine& t);
  void Delete(const TokenizedLine& t);
  void FlushAll(const TokenizedLine& t);
  void Verbosity(const TokenizedLine& t);
  Step Shutdown(const TokenizedLine& t);
  void CacheMemlimit(const TokenizedLine& t);
  void RefreshCerts(const TokenizedLine& t);
  void Stats(const TokenizedLine& t);
  void GeneralStats();
  void SettingsStats();
  void ItemsStats();
  void SlabsStats();
  void SizesStats();
  void ConnsStats();
  void CacheDump(const TokenizedLine& t);
  void ResetStats();
  void LruCrawler(const TokenizedLine& t);
  void Lru(const TokenizedLine& t);
  void Slabs(const TokenizedLine& t);
  void Metadump(std::string_view classes);

  ServerContext* const context_;
  ThreadStats* const stats_;
  storage::Store* const store_;
  const Config* const config_;
  uint64_t* const swallow_;
  std::string* const out_;
  MetaCommands meta_;
};

Runner::Step Runner::Handle(std::string_view in, size_t* used) {
  std::string_view line;
  size_t line_used = 0;
  switch (text::NextLine(in, &line, &line_used)) {
    case text::LineStatus::kNeedMore:
      return Step::kNeedMore;
    case text::LineStatus::kTooLong:
      return Step::kClose;
    case text::LineStatus::kLine:
      break;
  }
  TokenizedLine t;
  text::Tokenize(line, &t);
  *used = line_used;
  // No command is shorter than two bytes.
  if (t.count == 0 || t.tokens[0].size() < 2) {
    Reply(out_, false, kError);
    return Step::kDone;
  }
  const text::CommandSpec* spec = text::FindCommand(t.tokens[0]);
  if (spec == nullptr) {
    // Meta commands are in the table; other two-byte "m?" names get "ERROR" like any unknown one.
    if (text::LooksLikeHttp(t)) return Step::kClose;
    Reply(out_, false, kError);
    return Step::kDone;
  }
  if (t.count < spec->min_tokens || t.count > spec->max_tokens) {
    Reply(out_, false, kError);
    return Step::kDone;
  }
  const Step step = Dispatch(t, spec->command, in.substr(line_used), used);
  if (step == Step::kNeedMore) *used = 0;
  return step;
}

Runner::Step Runner::Dispatch(const TokenizedLine& t, Command command, std::string_view after,
                              size_t* used) {
  switch (command) {
    case Command::kGet:
      Retrieve(t, false, false);
      break;
    case Command::kGets:
      Retrieve(t, true, false);
      break;
    case Command::kGat:
      Retrieve(t, false, true);
      break;
    case Command::kGats:
      Retrieve(t, true, true);
      break;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return Storage(t, command, after, used);
    case Command::kIncr:
      Arithmetic(t, true);
      break;
    case Command::kDecr:
      Arithmetic(t, false);
      break;
    case Command::kTouch:
      Touch(t);
      break;
    case Command::kDelete:
      Delete(t);
      break;
    case Command::kFlushAll:
      FlushAll(t);
      break;
    case Command::kVersion:
      out_->append("VERSION ");
      out_->append(kVersion);
      out_->append("\r\n");
      break;
    case Command::kVerbosity:
      Verbosity(t);
      break;
    case Command::kQuit:
      return Step::kClose;
    case Command::kShutdown:
      return Shutdown(t);
    case Command::kCacheMemlimit:
      CacheMemlimit(t);
      break;
    case Command::kRefreshCerts:
      RefreshCerts(t);
      break;
    case Command::kStats:
      Stats(t);
      break;
    case Command::kLruCrawler:
      LruCrawler(t);
      break;
    case Command::kSlabs:
      Slabs(t);
      break;
    case Command::kLru:
      Lru(t);
      break;
    case Command::kMetaGet:
      meta_.Get(t);
      break;
    case Command::kMetaSet:
      return meta_.Set(t, after, used, swallow_) ? Step::kDone : Step::kNeedMore;
    case Command::kMetaDelete:
      meta_.Delete(t);
      break;
    case Command::kMetaArithmetic:
      meta_.Arithmetic(t);
      break;
    case Command::kMetaNoop:
      out_->append("MN\r\n");
      break;
    case Command::kMetaDebug:
      meta_.Debug(t);
      break;
  }
  return Step::kDone;
}

bool Runner::HasCompleteRequest(std::string_view in) const {
  std::string_view line;
  size_t line_used = 0;
  switch (text::NextLine(in, &line, &line_used)) {
    case text::LineStatus::kNeedMore:
      return false;
    case text::LineStatus::kTooLong:
      return true;
    case text::LineStatus::kLine:
      break;
  }
  TokenizedLine t;
  text::Tokenize(line, &t);
  if (t.count == 0) return true;
  const text::CommandSpec* spec = text::FindCommand(t.tokens[0]);
  if (spec != nullptr && spec->command == Command::kMetaSet && t.count >= spec->min_tokens) {
    const std::optional<size_t> block = meta_.SetBlockSize(t);
    return !block.has_value() || in.size() - line_used >= *block;
  }
  if (spec == nullptr || !IsStorage(spec->command) || t.count < spec->min_tokens ||
      t.count > spec->max_tokens) {
    return true;
  }
  text::StorageHeader h;
  if (!text::ParseStorageHeader(t, spec->command == Command::kCas, &h) || TooLarge(h)) return true;
  return in.size() - line_used >= uint64_t{h.bytes} + 2;
}

Runner::Step Runner::Storage(const TokenizedLine& t, Command command, std::string_view after,
                             size_t* used) {
  text::StorageHeader h;
  if (!text::ParseStorageHeader(t, command == Command::kCas, &h)) {
    Reply(out_, h.noreply, kBadFormat);
    return Step::kDone;
  }
  if (TooLarge(h)) {
    Reply(out_, h.noreply, ReplyFor(StoreResult::kTooLarge));
    *swallow_ = uint64_t{h.bytes} + 2;
    // As memcached: a set that cannot store its value must not leave the old one readable.
    if (command == Command::kSet) store_->Delete(h.key);
    return Step::kDone;
  }
  const size_t block = size_t{h.bytes} + 2;
  if (after.size() < block) return Step::kNeedMore;
  *used += block;
  Add(stats_->set_cmds);
  if (after[h.bytes] != '\r' || after[h.bytes + 1] != '\n') {
    Reply(out_, h.noreply, kBadDataChunk);
    return Step::kDone;
  }
  storage::StoreRequest request;
  request.mode = ModeFor(command);
  request.key = h.key;
  request.value = after.substr(0, h.bytes);
  request.flags = h.flags;
  request.exptime = h.exptime;
  // With -C items carry no CAS to match, so memcached's cas always fails: EXISTS when the item
  // is there, NOT_FOUND when not. A zero cas-unique never matches a version, which does that.
  request.cas = config_->cas_enabled ? h.cas : 0;
  const StoreResult result = store_->Set(request);
  if (command == Command::kCas) CountCas(stats_, result);
  Reply(out_, h.noreply, ReplyFor(result));
  return Step::kDone;
}

void Runner::Retrieve(const TokenizedLine& t, bool with_cas, bool touch) {
  size_t first_key = 1;
  int32_t exptime = 0;
  if (touch) {
    if (!text::ParseInt32(t.tokens[1], &exptime)) {
      Reply(out_, false, kBadExptime);
      return;
    }
    first_key = 2;
  }
  const bool show_cas = with_cas && config_->cas_enabled;
  std::string* const out = out_;
  ThreadStats* const stats = stats_;
  auto visit = [out, with_cas, show_cas, touch, stats](const ItemView& item) {
    if (!touch) stats->AddLruHit(item.class_id, item.lru);
    out->append("VALUE ");
    out->append(item.key);
    out->push_back(' ');
    AppendNumber(out, item.flags);
    out->push_back(' ');
    AppendNumber(out, item.value.size());
    if (with_cas) {
      out->push_back(' ');
      AppendNumber(out, show_cas ? item.version : 0);
    }
    out->append("\r\n");
    out->append(item.value);
    out->append("\r\n");
  };
  auto lookup = [&](std::string_view key) {
    if (key.size() > storage::kMaxKeyLength) return false;
    const LookupResult r =
        touch ? store_->GetAndTouch(key, exptime, visit) : store_->Get(key, visit);
    CountLookup(stats_, r, touch);
    return true;
  };
  const size_t start = out_->size();
  bool ok = true;
  for (size_t i = first_key; i < t.count && ok; ++i) ok = lookup(t.tokens[i]);
  if (ok) ok = text::ForEachToken(t.rest, lookup);
  if (!ok) {
    // A key over 250 bytes fails the whole command; the values found before it are not sent.
    out_->resize(start);
    Reply(out_, false, kBadFormat);
    return;
  }
  out_->append("END\r\n");
}

void Runner::Arithmetic(const TokenizedLine& t, bool incr) {
  const bool noreply = t.noreply();
  const std::string_view key = t.tokens[1];
  if (key.size() > storage::kMaxKeyLength) {
    Reply(out_, noreply, kBadFormat);
    return;
  }
  uint64_t delta;
  if (!text::ParseUint64(t.tokens[2], &delta)) {
    Reply(out_, noreply, kBadDelta);
    return;
  }
  uint64_t value = 0;
  const DeltaResult r = store_->Delta({.key = key, .incr = incr, .delta = delta}, &value);
  if (r == DeltaResult::kOk || r == DeltaResult::kOutOfMemory) {
    Add(incr ? stats_->incr_hits : stats_->decr_hits);
  } else if (r == DeltaResult::kNotFound) {
    Add(incr ? stats_->incr_misses : stats_->decr_misses);
  }
  if (noreply) return;
  if (r == DeltaResult::kOk) {
    AppendNumber(out_, value);
    out_->append("\r\n");
  } else {
    Reply(out_, false, ReplyFor(r));
  }
}

void Runner::Touch(const TokenizedLine& t) {
  const bool noreply = t.noreply();
  const std::string_view key = t.tokens[1];
  if (key.size() > storage::kMaxKeyLength) {
    Reply(out_, noreply, kBadFormat);
    return;
  }
  int32_t exptime;
  if (!text::ParseInt32(t.tokens[2], &exptime)) {
    Reply(out_, noreply, kBadExptime);
    return;
  }
  const LookupResult r = store_->Touch(key, exptime);
  CountLookup(stats_, r, /*touch=*/true);
  Reply(out_, noreply, ReplyFor(r));
}

void Runner::Delete(const TokenizedLine& t) {
  bool noreply = false;
  if (t.count > 2) {
    // memcached still takes the legacy "delete <key> 0" (a hold time of zero), nothing else.
    const bool hold_is_zero = t.tokens[2] == "0";
    noreply = t.noreply();
    const bool valid =
        (t.count == 3 && (hold_is_zero || noreply)) || (t.count == 4 && hold_is_zero && noreply);
    if (!valid) {
      Reply(out_, noreply, kDeleteUsage);
      return;
    }
  }
  const std::string_view key = t.tokens[1];
  if (key.size() > storage::kMaxKeyLength) {
    Reply(out_, noreply, kBadFormat);
    return;
  }
  const DeleteResult r = store_->Delete(key);
  Add(r == DeleteResult::kDeleted ? stats_->delete_hits : stats_->delete_misses);
  Reply(out_, noreply, ReplyFor(r));
}

void Runner::FlushAll(const TokenizedLine& t) {
  const bool noreply = t.noreply();
  // Counted even when refused, as memcached does.
  Add(stats_->flush_cmds);
  if (!config_->flush_enabled) {
    Reply(out_, noreply, kFlushNotAllowed);
    return;
  }
  int32_t delay = 0;
  if (t.count != (noreply ? 2u : 1u) && !text::ParseInt32(t.tokens[1], &delay)) {
    Reply(out_, noreply, kBadExptime);
    return;
  }
  store_->FlushAll(delay);
  Reply(out_, noreply, kOk);
}

void Runner::Verbosity(const TokenizedLine& t) {
  const bool noreply = t.noreply();
  uint32_t level;
  if (!text::ParseUint32(t.tokens[1], &level)) {
    Reply(out_, noreply, kBadFormat);
    return;
  }
  context_->verbosity.store(static_cast<int>(std::min(level, kMaxVerbosity)),
                            std::memory_order_relaxed);
  Reply(out_, noreply, kOk);
}

// As memcached: "OK" (noreply honoured), or the reason as a bare line even with noreply.
void Runner::RefreshCerts(const TokenizedLine& t) {
  if (context_->tls == nullptr) {
    out_->append("Error TLS not enabled\r\n");
    return;
  }
  const absl::Status s = context_->tls->Reload();
  if (!s.ok()) {
    out_->append(s.message().data(), s.message().size());
    out_->append("\r\n");
    return;
  }
  Reply(out_, t.noreply(), kOk);
}

Runner::Step Runner::Shutdown(const TokenizedLine& t) {
  if (!config_->enable_shutdown) {
    Reply(out_, false, kShutdownNotEnabled);
    return Step::kDone;
  }
  // memcached raises SIGINT for "shutdown" and SIGUSR1 for "shutdown graceful"; both end in an
  // orderly exit here. The connection closes without a reply.
  if (t.count == 1 || (t.count == 2 && t.tokens[1] == "graceful")) {
    if (context_->request_shutdown) context_->request_shutdown();
    return Step::kClose;
  }
  Reply(out_, false, kBadShutdownMode);
  return Step::kDone;
}

void Runner::CacheMemlimit(const TokenizedLine& t) {
  const bool noreply = t.noreply();
  uint32_t megabytes;
  if (!text::ParseUint32(t.tokens[1], &megabytes)) {
    Reply(out_, noreply, kError);
  } else if (megabytes < kMinMemlimitMb) {
    Reply(out_, noreply, kMemlimitTooSmall);
  } else if (megabytes > kMaxMemlimitMb) {
    Reply(out_, noreply, kMemlimitNotBytes);
  } else if (!store_->SetMemoryLimit(size_t{megabytes} << 20).ok()) {
    // memcached's one answer for "cannot": preallocated (-L), or here also beyond the reach of
    // the Store's item refs, or the kernel would not map the pages.
    Reply(out_, noreply, kMemlimitFailed);
  } else {
    if (context_->verbosity.load(std::memory_order_relaxed) > 0) {
      std::fprintf(stderr, "maxbytes adjusted to %um\n", megabytes);
    }
    Reply(out_, noreply, kOk);
  }
}

// ---------------------------------------------------------------------------------------------
// stats

void Runner::Stats(const TokenizedLine& t) {
  if (t.count == 1) {
    GeneralStats();
  } else if (t.tokens[1] == "reset") {
    ResetStats();
    Reply(out_, false, "RESET");
    return;
  } else if (t.tokens[1] == "settings") {
    SettingsStats();
  } else if (t.tokens[1] == "items") {
    ItemsStats();
  } else if (t.tokens[1] == "slabs") {
    SlabsStats();
  } else if (t.tokens[1] == "sizes") {
    SizesStats();
  } else if (t.tokens[1] == "conns") {
    ConnsStats();
  } else if (t.tokens[1] == "cachedump") {
    CacheDump(t);
    return;
  } else if (t.tokens[1] == "replication") {
    if (context_->replication_stats) {
      for (const auto& [name, value] : context_->replication_stats()) Stat(out_, name, value);
    } else {
      Stat(out_, "repl_enabled", "no");
    }
  } else {
    Reply(out_, false, kError);
    return;
  }
  out_->append("END\r\n");
}

// memcached's "stats cachedump <class> <limit>": "ITEM <key> [<value bytes> b; <expiry> s]" for
// up to <limit> items of one slab class (0: no limit), at most 2 MB of lines, then END; the
// errors are memcached 1.6.18's (checked by hand). memcached lists only its COLD LRU, so right
// after a write it often lists nothing; memtwin has one LRU per class and lists the class's live
// items in hash-table order. libmemcached's memcdump is the user.
void Runner::CacheDump(const TokenizedLine& t) {
  constexpr size_t kMaxDumpBytes = 2 * 1024 * 1024;
  if (t.count < 4) {
    Reply(out_, false, "CLIENT_ERROR bad command line");
    return;
  }
  uint32_t id;
  uint32_t limit;
  if (!text::ParseUint32(t.tokens[2], &id) || !text::ParseUint32(t.tokens[3], &limit)) {
    Reply(out_, false, kBadFormat);
    return;
  }
  if (id > kMaxSlabClassId) {
    Reply(out_, false, "CLIENT_ERROR Illegal slab id");
    return;
  }
  std::string* const out = out_;
  const size_t start = out->size();
  uint64_t listed = 0;
  storage::SnapshotCursor cursor;
  while (store_->ItemsStep(&cursor, kMetadumpGroupsPerStep, [&](const ItemView& item) {
    if (item.class_id != id || (limit != 0 && listed >= limit) ||
        out->size() - start >= kMaxDumpBytes) {
      return;
    }
    ++listed;
    out->append("ITEM ");
    out->append(item.key.data(), item.key.size());
    out->append(" [");
    AppendNumber(out, item.value.size());
    out->append(" b; ");
    AppendNumber(out, item.exptime);
    out->append(" s]\r\n");
  })) {
  }
  out_->append("END\r\n");
}

// memcached's process_stats_conns: per socket in fd order, addr, listen_addr (not for a
// listener), state and secs_since_last_cmd.
void Runner::ConnsStats() {
  if (!context_->connection_stats) return;  // no networking (the protocol's own tests)
  for (const ConnectionStat& c : context_->connection_stats()) {
    const auto line = [&](std::string_view name, std::string_view value) {
      out_->append("STAT ");
      AppendSigned(out_, c.fd);
      out_->push_back(':');
      out_->append(name);
      out_->push_back(' ');
      out_->append(value);
      out_->append("\r\n");
    };
    line("addr", c.addr);
    if (c.state != ConnState::kListening) line("listen_addr", c.listen_addr);
    line("state", ConnStateName(c.state));
    char buf[64];
    line("secs_since_last_cmd", Format(buf, "%u", c.secs_since_last_cmd));
  }
}

// memcached's server_stats + get_stats(NULL) + item_stats_totals, in its order, as a memcached
// run with the same LRU and crawler options and no_slab_reassign (memtwin moves no pages)
// prints them. memcached's internal buffer counters (response_obj_*, read_buf_*, reserved_fds)
// and the logger's are left out.
void Runner::GeneralStats() {
  Counters sum;
  for (const ThreadStats* ts : context_->thread_stats) ts->AddTo(&sum);
  const storage::StoreStats s = store_->Stats();
  const uint32_t now = store_->Now();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  char buf[64];

  Stat(out_, "pid", static_cast<uint64_t>(getpid()));
  Stat(out_, "uptime", now >= context_->start_time ? now - context_->start_time : 0);
  Stat(out_, "time", now);
  Stat(out_, "version", kVersion);
  Stat(out_, "libevent", event_get_version());
  Stat(out_, "pointer_size", 8 * sizeof(void*));
  Stat(out_, "rusage_user",
       Format(buf, "%ld.%06ld", static_cast<long>(usage.ru_utime.tv_sec),
              static_cast<long>(usage.ru_utime.tv_usec)));
  Stat(out_, "rusage_system",
       Format(buf, "%ld.%06ld", static_cast<long>(usage.ru_stime.tv_sec),
              static_cast<long>(usage.ru_stime.tv_usec)));
  const uint64_t curr_connections = context_->curr_connections.load(std::memory_order_relaxed);
  Stat(out_, "max_connections", static_cast<uint64_t>(config_->max_connections));
  Stat(out_, "curr_connections", curr_connections);
  Stat(out_, "total_connections", context_->total_connections.load(std::memory_order_relaxed));
  Stat(out_, "rejected_connections",
       context_->rejected_connections.load(std::memory_order_relaxed));
  Stat(out_, "connection_structures", curr_connections);
  Stat(out_, "cmd_get", sum.get_cmds);
  Stat(out_, "cmd_set", sum.set_cmds);
  Stat(out_, "cmd_flush", sum.flush_cmds);
  Stat(out_, "cmd_touch", sum.touch_cmds);
  Stat(out_, "cmd_meta", sum.meta_cmds);
  Stat(out_, "get_hits", sum.get_hits);
  Stat(out_, "get_misses", sum.get_misses);
  Stat(out_, "get_expired", sum.get_expired);
  Stat(out_, "get_flushed", sum.get_flushed);
  Stat(out_, "delete_misses", sum.delete_misses);
  Stat(out_, "delete_hits", sum.delete_hits);
  Stat(out_, "incr_misses", sum.incr_misses);
  Stat(out_, "incr_hits", sum.incr_hits);
  Stat(out_, "decr_misses", sum.decr_misses);
  Stat(out_, "decr_hits", sum.decr_hits);
  Stat(out_, "cas_misses", sum.cas_misses);
  Stat(out_, "cas_hits", sum.cas_hits);
  Stat(out_, "cas_badval", sum.cas_badval);
  Stat(out_, "touch_hits", sum.touch_hits);
  Stat(out_, "touch_misses", sum.touch_misses);
  Stat(out_, "auth_cmds", uint64_t{0});
  Stat(out_, "auth_errors", uint64_t{0});
  Stat(out_, "bytes_read", sum.bytes_read);
  Stat(out_, "bytes_written", sum.bytes_written);
  Stat(out_, "limit_maxbytes", s.limit_maxbytes);
  Stat(out_, "accepting_conns", uint64_t{1});
  Stat(out_, "threads", static_cast<uint64_t>(config_->threads));
  Stat(out_, "conn_yields", sum.conn_yields);
  Stat(out_, "hash_power_level", s.hash_power_level);
  Stat(out_, "hash_bytes", s.hash_bytes);
  Stat(out_, "hash_is_expanding", s.hash_is_expanding ? 1u : 0u);
  const storage::LruCrawler& crawler = *context_->lru_crawler;
  if (crawler.enabled()) {
    Stat(out_, "lru_crawler_running", crawler.running() ? 1u : 0u);
    Stat(out_, "lru_crawler_starts", crawler.starts());
  }
  if (context_->lru_maintainer_juggles) {
    Stat(out_, "lru_maintainer_juggles", context_->lru_maintainer_juggles());
  }
  if (context_->tls != nullptr) {
    if (config_->tls.session_cache) Stat(out_, "ssl_new_sessions", context_->tls->new_sessions());
    Stat(out_, "ssl_handshake_errors", context_->tls->handshake_errors());
    Stat(out_, "time_since_server_cert_refresh",
         static_cast<uint64_t>(std::max<int64_t>(0, now - context_->tls->last_load_time())));
  }
  Stat(out_, "bytes", s.bytes);
  Stat(out_, "curr_items", s.curr_items);
  Stat(out_, "total_items", s.total_items);
  Stat(out_, "expired_unfetched", s.expired_unfetched);
  Stat(out_, "evicted_unfetched", s.evicted_unfetched);
  const bool maintainer = config_->lru_maintainer;
  if (maintainer) Stat(out_, "evicted_active", s.evicted_active);
  Stat(out_, "evictions", s.evictions);
  Stat(out_, "reclaimed", s.reclaimed);
  Stat(out_, "crawler_reclaimed", s.crawler_reclaimed);
  Stat(out_, "crawler_items_checked", s.crawler_items_checked);
  Stat(out_, "lrutail_reflocked", uint64_t{0});  // no refcounts, so never
  if (maintainer) {
    Stat(out_, "moves_to_cold", s.moves_to_cold);
    Stat(out_, "moves_to_warm", s.moves_to_warm);
    Stat(out_, "moves_within_lru", s.moves_within_lru);
    Stat(out_, "direct_reclaims", s.direct_reclaims);
    Stat(out_, "lru_bumps_dropped", uint64_t{0});  // a full bump queue is moved by the reader
  }
  // repcached's lines, for dashboards that read them.
  if (context_->replication_role) {
    Stat(out_, "replication", context_->replication_role());
    Stat(out_, "repcached_version", "2.3.1-memtwin");
  }
}

// memcached's process_stat_settings, in its order, with memtwin's values; settings memtwin does
// not have are printed as a memcached without that feature shows them. The EXTSTORE group is
// left out.
void Runner::SettingsStats() {
  const Config& c = *config_;
  const storage::StorageOptions& o = c.storage;
  char buf[64];
  std::string inter;  // memcached prints its -l argument; ours is a list
  for (const std::string& a : c.listen_addresses) {
    if (!inter.empty()) inter.push_back(',');
    inter.append(a);
  }
  const storage::SlabClasses& classes = store_->slab_classes();

  Stat(out_, "maxbytes", store_->memory_limit());  // cache_memlimit moves it
  Stat(out_, "maxconns", Format(buf, "%d", c.max_connections));
  Stat(out_, "tcpport", Format(buf, "%d", c.port));
  Stat(out_, "udpport", Format(buf, "%d", c.udp_port));
  Stat(out_, "inter", inter.empty() ? std::string_view("NULL") : std::string_view(inter));
  Stat(out_, "verbosity", Format(buf, "%d", context_->verbosity.load(std::memory_order_relaxed)));
  Stat(out_, "oldest", uint64_t{0});
  Stat(out_, "evictions", o.evict ? "on" : "off");
  Stat(out_, "domain_socket",
       c.unix_socket.empty() ? std::string_view("NULL") : std::string_view(c.unix_socket));
  Stat(out_, "umask", Format(buf, "%o", c.unix_mask));
  Stat(out_, "shutdown_command", YesNo(c.enable_shutdown));
  Stat(out_, "growth_factor", Format(buf, "%.2f", o.growth_factor));
  Stat(out_, "chunk_size", o.min_value_space);
  Stat(out_, "num_threads", Format(buf, "%d", c.threads));
  Stat(out_, "num_threads_per_udp", Format(buf, "%d", c.threads));
  Stat(out_, "stat_key_prefix", ":");
  Stat(out_, "detail_enabled", "no");
  Stat(out_, "reqs_per_event", Format(buf, "%d", c.requests_per_event));
  Stat(out_, "cas_enabled", YesNo(c.cas_enabled));
  Stat(out_, "tcp_backlog", Format(buf, "%d", c.backlog));
  Stat(out_, "binding_protocol",
       c.protocol == BindingProtocol::kAscii    ? "ascii"
       : c.protocol == BindingProtocol::kBinary ? "binary"
                                                : "auto-negotiate");
  Stat(out_, "auth_enabled_sasl", "no");
  Stat(out_, "auth_enabled_ascii", "no");
  Stat(out_, "item_size_max", o.item_size_max);
  Stat(out_, "maxconns_fast", "yes");
  Stat(out_, "hashpower_init", o.hash_power_initial);
  Stat(out_, "slab_reassign", "no");
  Stat(out_, "slab_automove", context_->slab_automove.load(std::memory_order_relaxed));
  Stat(out_, "slab_automove_ratio",
       absl::StrFormat("%.2f", context_->slab_automove_ratio.load(std::memory_order_relaxed)));
  Stat(out_, "slab_automove_window", uint64_t{30});
  Stat(out_, "slab_chunk_max",
       classes.count() > 0 ? classes.at(classes.count()).chunk_size : uint64_t{0});
  const storage::LruCrawler& crawler = *context_->lru_crawler;
  Stat(out_, "lru_crawler", YesNo(crawler.enabled()));
  Stat(out_, "lru_crawler_sleep", crawler.sleep_micros());
  Stat(out_, "lru_crawler_tocrawl", crawler.tocrawl());
  Stat(out_, "tail_repair_time", uint64_t{0});
  Stat(out_, "flush_enabled", YesNo(c.flush_enabled));
  Stat(out_, "dump_enabled", "yes");  // metadump is allowed whenever the crawler runs
  Stat(out_, "hash_algorithm", "absl");
  const storage::Store::LruSettings lru = store_->lru_settings();  // "lru" moves them
  Stat(out_, "lru_maintainer_thread", YesNo(c.lru_maintainer));
  Stat(out_, "lru_segmented", YesNo(lru.segmented));
  Stat(out_, "hot_lru_pct", uint64_t{lru.hot_lru_pct});
  Stat(out_, "warm_lru_pct", uint64_t{lru.warm_lru_pct});
  Stat(out_, "hot_max_factor", absl::StrFormat("%.2f", lru.hot_max_factor));
  Stat(out_, "warm_max_factor", absl::StrFormat("%.2f", lru.warm_max_factor));
  Stat(out_, "temp_lru", "no");
  Stat(out_, "temporary_ttl", uint64_t{61});
  Stat(out_, "idle_timeout", uint64_t{0});
  Stat(out_, "watcher_logbuf_size", uint64_t{262144});
  Stat(out_, "worker_logbuf_size", uint64_t{65536});
  Stat(out_, "read_buf_mem_limit", uint64_t{0});
  // "stats sizes" always works here (by a walk of the store), as with memcached -o track_sizes.
  Stat(out_, "track_sizes", "yes");
  Stat(out_, "inline_ascii_response", "no");
  Stat(out_, "ssl_enabled", YesNo(c.tls.enabled));
  // memcached prints unset paths with printf's "(null)", and unset cipher and CA lists as NULL.
  const auto or_null = [](const std::string& s, std::string_view absent) {
    return s.empty() ? absent : std::string_view(s);
  };
  Stat(out_, "ssl_chain_cert", or_null(c.tls.chain_cert, "(null)"));
  Stat(out_, "ssl_key", or_null(c.tls.key, "(null)"));
  Stat(out_, "ssl_verify_mode", Format(buf, "%d", c.tls.verify_mode));
  Stat(out_, "ssl_keyformat", uint64_t{1});  // SSL_FILETYPE_PEM
  Stat(out_, "ssl_ciphers", or_null(c.tls.ciphers, "NULL"));
  Stat(out_, "ssl_ca_cert", or_null(c.tls.ca_cert, "NULL"));
  Stat(out_, "ssl_wbuf_size", uint64_t{16384});
  Stat(out_, "ssl_session_cache", YesNo(c.tls.session_cache));
  Stat(out_, "ssl_kernel_tls", "no");
  Stat(out_, "ssl_min_version", c.tls.min_version);
  Stat(out_, "num_napi_ids", "(null)");
  Stat(out_, "memory_file", "(null)");
  // memtwin's own settings, after all of memcached's.
  Stat(out_, "worker_slice_us", Format(buf, "%d", c.worker_slice_us));
  Stat(out_, "io_uring", YesNo(c.io_uring));
}

// memcached's item_stats: one group per class that holds items; the segmented LRU's lines while
// the maintainer runs.
void Runner::ItemsStats() {
  const storage::StoreStats s = store_->Stats();
  const bool maintainer = config_->lru_maintainer;
  constexpr std::string_view kPrefix = "items:";
  for (const storage::SlabClassStats& c : s.classes) {
    if (c.items == 0) continue;
    ClassStat(out_, kPrefix, c.id, "number", c.items);
    if (maintainer) {
      ClassStat(out_, kPrefix, c.id, "number_hot", c.number_hot);
      ClassStat(out_, kPrefix, c.id, "number_warm", c.number_warm);
      ClassStat(out_, kPrefix, c.id, "number_cold", c.number_cold);
      ClassStat(out_, kPrefix, c.id, "age_hot", c.age_hot);
      ClassStat(out_, kPrefix, c.id, "age_warm", c.age_warm);
    }
    ClassStat(out_, kPrefix, c.id, "age", c.age);
    ClassStat(out_, kPrefix, c.id, "mem_requested", c.mem_requested);
    ClassStat(out_, kPrefix, c.id, "evicted", c.evicted);
    ClassStat(out_, kPrefix, c.id, "evicted_nonzero", c.evicted_nonzero);
    ClassStat(out_, kPrefix, c.id, "evicted_time", c.evicted_time);
    ClassStat(out_, kPrefix, c.id, "outofmemory", c.outofmemory);
    ClassStat(out_, kPrefix, c.id, "tailrepairs", 0);
    ClassStat(out_, kPrefix, c.id, "reclaimed", c.reclaimed);
    ClassStat(out_, kPrefix, c.id, "expired_unfetched", c.expired_unfetched);
    ClassStat(out_, kPrefix, c.id, "evicted_unfetched", c.evicted_unfetched);
    if (maintainer) ClassStat(out_, kPrefix, c.id, "evicted_active", c.evicted_active);
    ClassStat(out_, kPrefix, c.id, "crawler_reclaimed", c.crawler_reclaimed);
    ClassStat(out_, kPrefix, c.id, "crawler_items_checked", c.crawler_items_checked);
    ClassStat(out_, kPrefix, c.id, "lrutail_reflocked", 0);
    if (!maintainer) continue;
    ClassStat(out_, kPrefix, c.id, "moves_to_cold", c.moves_to_cold);
    ClassStat(out_, kPrefix, c.id, "moves_to_warm", c.moves_to_warm);
    ClassStat(out_, kPrefix, c.id, "moves_within_lru", c.moves_within_lru);
    ClassStat(out_, kPrefix, c.id, "direct_reclaims", c.direct_reclaims);
    uint64_t hits[storage::kLruSegments] = {};
    for (const ThreadStats* ts : context_->thread_stats) {
      for (int segment = 0; segment < storage::kLruSegments; ++segment) {
        hits[segment] += ts->lru_hits[c.id][segment].load(std::memory_order_relaxed);
      }
    }
    ClassStat(out_, kPrefix, c.id, "hits_to_hot", hits[storage::kLruHot]);
    ClassStat(out_, kPrefix, c.id, "hits_to_warm", hits[storage::kLruWarm]);
    ClassStat(out_, kPrefix, c.id, "hits_to_cold", hits[storage::kLruCold]);
    ClassStat(out_, kPrefix, c.id, "hits_to_temp", 0);  // no TEMP LRU, as memcached's default
  }
}

// memcached's slabs_stats for every class with pages. Its per-class command counters (get_hits,
// cmd_set, ...) are left out: ThreadStats counts commands per thread, not per class.
void Runner::SlabsStats() {
  const storage::StoreStats s = store_->Stats();
  for (const storage::SlabClassStats& c : s.classes) {
    ClassStat(out_, "", c.id, "chunk_size", c.chunk_size);
    ClassStat(out_, "", c.id, "chunks_per_page", c.chunks_per_page);
    ClassStat(out_, "", c.id, "total_pages", c.total_pages);
    ClassStat(out_, "", c.id, "total_chunks", c.total_chunks);
    ClassStat(out_, "", c.id, "used_chunks", c.used_chunks);
    ClassStat(out_, "", c.id, "free_chunks", c.free_chunks);
    ClassStat(out_, "", c.id, "free_chunks_end", c.free_chunks_end);
  }
  Stat(out_, "active_slabs", s.classes.size());
  Stat(out_, "total_malloced", s.total_malloced);
}

void Runner::SizesStats() {
  for (const auto& [size, count] : store_->SizeHistogram()) {
    out_->append("STAT ");
    AppendNumber(out_, size);
    out_->push_back(' ');
    AppendNumber(out_, count);
    out_->append("\r\n");
  }
}

// ---------------------------------------------------------------------------------------------
// lru_crawler, as memcached's: crawl asks the crawler thread for a crawl of some classes;
// metadump (answered here, by a walk of the Store) needs the crawler enabled, as memcached's.

// The class list of "lru_crawler crawl" and "metadump": "all" or comma-separated ids 1..63
// (empty fields skipped, as strtok_r does). On failure, memcached's reply.
bool ParseCrawlClasses(std::string_view text, storage::LruCrawler::ClassSet* classes,
                       std::string_view* error) {
  if (text == "all") {
    classes->set();
    return true;
  }
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view id_text = text.substr(start, end - start);
    start = end + 1;
    if (id_text.empty()) continue;
    uint32_t id;
    if (!text::ParseUint32(id_text, &id) || id < 1 || id > kMaxSlabClassId) {
      *error = "BADCLASS invalid class id";
      return false;
    }
    classes->set(id);
  }
  if (classes->none()) *error = "NOTSTARTED no items to crawl";
  return classes->any();
}

void Runner::LruCrawler(const TokenizedLine& t) {
  storage::LruCrawler& crawler = *context_->lru_crawler;
  const std::string_view sub = t.count > 1 ? t.tokens[1] : std::string_view();
  if (t.count == 3 && (sub == "crawl" || sub == "metadump")) {
    storage::LruCrawler::ClassSet classes;
    std::string_view error;
    if (!crawler.enabled()) {
      Reply(out_, false, "CLIENT_ERROR lru crawler disabled");
    } else if (sub == "metadump") {
      Metadump(t.tokens[2]);
    } else if (t.tokens[2] == "hash") {
      // memcached walks the hash table for metadump only; a crawl of it fails this way.
      Reply(out_, false, "ERROR an unknown error happened");
    } else if (!ParseCrawlClasses(t.tokens[2], &classes, &error)) {
      Reply(out_, false, error);
    } else {
      switch (crawler.Crawl(classes)) {
        case storage::LruCrawler::CrawlStart::kStarted:
          Reply(out_, false, kOk);
          break;
        case storage::LruCrawler::CrawlStart::kBusy:
          Reply(out_, false, "BUSY currently processing crawler request");
          break;
        case storage::LruCrawler::CrawlStart::kDisabled:
          Reply(out_, false, "CLIENT_ERROR lru crawler disabled");
          break;
      }
    }
  } else if (t.count == 3 && (sub == "tocrawl" || sub == "sleep")) {
    uint32_t n;
    if (!text::ParseUint32(t.tokens[2], &n)) {
      Reply(out_, false, kBadFormat);
    } else if (sub == "sleep" && n > kMaxCrawlerSleep) {
      Reply(out_, false, "CLIENT_ERROR sleep must be one second or less");
    } else {
      if (sub == "sleep") crawler.set_sleep_micros(n);
      if (sub == "tocrawl") crawler.set_tocrawl(n);
      Reply(out_, false, kOk);
    }
  } else if (t.count == 2 && sub == "enable") {
    Reply(out_, false, crawler.Enable() ? kOk : "ERROR failed to start lru crawler thread");
  } else if (t.count == 2 && sub == "disable") {
    crawler.Disable();
    Reply(out_, false, kOk);
  } else {
    Reply(out_, false, kError);
  }
}

// memcached's "lru" command: tune the segmented LRU's shares and age factors, or switch it between
// flat and segmented while the maintainer runs. memtwin has no TEMP LRU, so "lru temp_ttl" is an
// ERROR rather than memcached's OK.
void Runner::Lru(const TokenizedLine& t) {
  const bool noreply = t.noreply();
  const std::string_view sub = t.tokens[1];
  storage::Store::LruSettings settings = store_->lru_settings();
  if (sub == "tune" && t.count >= 6) {
    uint32_t hot_pct;
    uint32_t warm_pct;
    double hot_factor;
    double warm_factor;
    if (!text::ParseUint32(t.tokens[2], &hot_pct) || !text::ParseUint32(t.tokens[3], &warm_pct) ||
        !text::ParseDouble(t.tokens[4], &hot_factor) ||
        !text::ParseDouble(t.tokens[5], &warm_factor)) {
      Reply(out_, noreply, kError);
    } else if (uint64_t{hot_pct} + warm_pct > 80) {
      Reply(out_, noreply, "ERROR hot and warm pcts must not exceed 80");
    } else if (!(hot_factor > 0) || !(warm_factor > 0)) {
      Reply(out_, noreply, "ERROR hot/warm age factors must be greater than 0");
    } else {
      settings.hot_lru_pct = hot_pct;
      settings.warm_lru_pct = warm_pct;
      settings.hot_max_factor = hot_factor;
      settings.warm_max_factor = warm_factor;
      store_->set_lru_settings(settings);
      Reply(out_, noreply, kOk);
    }
  } else if (sub == "mode" && t.count >= 3 && config_->lru_maintainer &&
             (t.tokens[2] == "flat" || t.tokens[2] == "segmented")) {
    settings.segmented = t.tokens[2] == "segmented";
    store_->set_lru_settings(settings);
    Reply(out_, noreply, kOk);
  } else {
    Reply(out_, noreply, kError);
  }
}

// memcached's "slabs" command as a memcached run with -o no_slab_reassign answers it: memtwin
// moves no pages between classes, so "reassign" is refused, and "automove" only records its
// setting (noreply is honoured there only, as in memcached).
void Runner::Slabs(const TokenizedLine& t) {
  const std::string_view sub = t.count > 1 ? t.tokens[1] : std::string_view();
  if (t.count == 4 && sub == "reassign") {
    Reply(out_, false, "CLIENT_ERROR slab reassignment disabled");
    return;
  }
  if (t.count < 3 || sub != "automove") {
    Reply(out_, false, kError);
    return;
  }
  const bool noreply = t.noreply();
  if (t.tokens[2] == "ratio") {
    double ratio;
    if (t.count < 4 || !text::ParseDouble(t.tokens[3], &ratio)) {
      Reply(out_, noreply, kError);
      return;
    }
    context_->slab_automove_ratio.store(ratio, std::memory_order_relaxed);
  } else {
    uint32_t level;
    if (!text::ParseUint32(t.tokens[2], &level)) {
      Reply(out_, noreply, kBadFormat);
      return;
    }
    if (level > 2) {
      Reply(out_, noreply, kError);
      return;
    }
    context_->slab_automove.store(level, std::memory_order_relaxed);
  }
  Reply(out_, noreply, kOk);
}

// memcached's crawler_metadump_eval line for every live item of the chosen classes ("all",
// "hash" or a comma-separated list of ids 1..63), then END. Lines end in "\n", END in "\r\n".
// The whole dump is built in `out_` at once; the walk is in hash order.
void Runner::Metadump(std::string_view classes) {
  storage::LruCrawler::ClassSet wanted;
  std::string_view error;
  if (classes == "hash") {
    wanted.set();
  } else if (!ParseCrawlClasses(classes, &wanted, &error)) {
    Reply(out_, false, error);
    return;
  }
  std::string* const out = out_;
  storage::SnapshotCursor cursor;
  while (store_->ItemsStep(&cursor, kMetadumpGroupsPerStep, [&](const ItemView& item) {
    if (item.class_id > kMaxSlabClassId || !wanted[item.class_id]) return;
    out->append("key=");
    UriEncode(item.key, out);
    out->append(" exp=");
    AppendSigned(out, item.exptime == 0 ? -1 : int64_t{item.exptime});
    out->append(" la=");
    AppendNumber(out, item.last_access);
    out->append(" cas=");
    AppendNumber(out, item.version);
    out->append(item.fetched_before ? " fetch=yes" : " fetch=no");
    out->append(" cls=");
    AppendNumber(out, item.class_id);
    out->append(" size=");
    AppendNumber(out, storage::Item::TotalSize(item.key.size(), item.value.size()));
    out->push_back('\n');
  })) {
  }
  out_->append("END\r\n");
}

// memcached's stats_reset clears the thread counters and the process-wide connection totals.
void Runner::ResetStats() {
  for (ThreadStats* ts : context_->thread_stats) ts->Reset();
  context_->total_connections.store(0, std::memory_order_relaxed);
  context_->rejected_connections.store(0, std::memory_order_relaxed);
}

}  // namespace

TextProtocol::TextProtocol(ServerContext* context, ThreadStats* stats)
    : context_(context), stats_(stats) {}

TextProtocol::After TextProtocol::Process(std::string_view in, std::string* out, size_t* consumed,
                                          int max_requests) {
  Runner runner(context_, stats_, &swallow_, out);
  return ProcessRequests(
      in, consumed, max_requests, &swallow_,
      [&](std::string_view rest, size_t* used) { return runner.Handle(rest, used); },
      [&](std::string_view rest) { return runner.HasCompleteRequest(rest); });
}

}  // namespace memtwin::server
