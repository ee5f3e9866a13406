// memcached 1.6.18's meta commands, as this file reads them (proto_text.c: process_mget_command,
// process_mset_command, process_mdelete_command, process_marithmetic_command,
// process_meta_command; checked against the binary, see tests/unit/server/meta_protocol_test.cc):
//
//   mg key *flag              -> ("VA" SP size | "HD") *(SP ret) ["Z"] ["X"] ["W"] CRLF [data CRLF]
//                              | "EN" *(SP ret) CRLF           ; nothing at all with q
//   ms key datalen *flag CRLF data CRLF -> ("HD" | "NS" | "EX" | "NF") *(SP ret) CRLF
//   md key *flag              -> ("HD" | "NF" | "EX") *(SP ret) CRLF
//   ma key *flag              -> ("VA" SP size | "HD") *(SP ret) CRLF [number CRLF]
//                              | ("NF" | "EX") *(SP ret) CRLF
//   me key ["b"]              -> "ME" SP key SP "exp=" .. " la=" .. " cas=" .. " fetch=" ..
//                                " cls=" .. " size=" .. CRLF  | "EN" CRLF
//
// Returned flags ("ret") follow the request's order: mg s t c f l h O k, ms O k c, md O k,
// ma c t O k. q hides only the nominal answer: mg's EN, ms's and md's HD, ma's HD/VA for an
// existing counter. Errors are always sent. T and N change the expiry at their place in that
// order, so a "t" before them shows the old one (memcached evaluates flags left to right).
//
// Where memtwin differs: an over-long O token is refused before the command acts (memcached's mg
// and ma act first); T gives the item a new CAS (as touch does here); an item vivified through a
// base64 key keeps that mark; E (1.6.19's explicit CAS) is understood.
#include "server/meta_protocol.h"

#include <charconv>
#include <limits>

#include "server/encoding.h"
#include "server/meta_parser.h"
#include "server/reply.h"
#include "storage/item.h"
#include "storage/store.h"

namespace memtwin::server {
namespace {

using storage::AbsoluteExptime;
using storage::DeltaResult;
using storage::LookupResult;
using storage::StoreMode;
using storage::StoreResult;
using text::TokenizedLine;

constexpr std::string_view kBadSetMode = "CLIENT_ERROR invalid mode for ms M token";
constexpr std::string_view kBadArithmeticMode = "CLIENT_ERROR invalid mode for ma M token";
constexpr std::string_view kVivifyOutOfMemory = "SERVER_ERROR Out of memory allocating new item";

// Meta commands take one flag per token after the key (ms: after the data length).
constexpr size_t kFirstFlag = 2;
constexpr size_t kFirstSetFlag = 3;

void Add(std::atomic<uint64_t>& counter) { ThreadStats::Add(counter); }

// The remaining time to live as mg's and ma's "t" shows it: -1 for never, else expiry - now
// wrapped to 32 bits (memcached's itoa_u32 on rel_time_t).
void AppendTtl(std::string* out, uint32_t exptime, uint32_t now) {
  if (exptime == 0) {
    out->append("-1");
  } else {
    AppendNumber(out, static_cast<uint32_t>(exptime - now));
  }
}

// The expiry a vivified item ends with: memcached creates it never-expiring, then applies T and
// N (when it created the item) in request order, so the last of them wins.
uint32_t CreatedExptime(const TokenizedLine& line, size_t first, uint32_t ttl, uint32_t vivify) {
  uint32_t exptime = 0;
  for (size_t i = first; i < line.count; ++i) {
    if (line.tokens[i][0] == 'T') exptime = ttl;
    if (line.tokens[i][0] == 'N') exptime = vivify;
  }
  return exptime;
}

// Whether flag `a` comes before flag `b` in the request (both present).
bool Before(const TokenizedLine& line, size_t first, char a, char b) {
  for (size_t i = first; i < line.count; ++i) {
    if (line.tokens[i][0] == a) return true;
    if (line.tokens[i][0] == b) return false;
  }
  return false;
}

uint32_t AbsoluteOrZero(const std::optional<int32_t>& client_exptime, uint32_t now) {
  return client_exptime.has_value() ? AbsoluteExptime(*client_exptime, now) : 0;
}

}  // namespace

struct MetaCommands::SetHeader {
  meta::Flags flags;
  size_t block = 0;  // value + "\r\n"
  StoreMode mode = StoreMode::kSet;
};

MetaCommands::MetaCommands(ServerContext* context, ThreadStats* stats, std::string* out)
    : context_(context), stats_(stats), store_(context->store), out_(out) {}

void MetaCommands::Error(std::string_view text) { Reply(out_, false, text); }

void MetaCommands::AppendOpaqueAndKey(const TokenizedLine& line, std::string_view key,
                                      bool binary) {
  for (size_t i = kFirstFlag; i < line.count; ++i) {
    const std::string_view token = line.tokens[i];
    if (token[0] == 'O') {
      out_->push_back(' ');
      out_->append(token);
    } else if (token[0] == 'k') {
      AppendKey(key, binary);
    }
  }
}

void MetaCommands::AppendKey(std::string_view key, bool binary) {
  out_->append(" k");
  if (!binary) {
    out_->append(key);
    return;
  }
  Base64Encode(key, out_);
  out_->append(" b");
}

// ---------------------------------------------------------------------------------------------
// mg

void MetaCommands::Get(const TokenizedLine& line) {
  if (line.tokens[1].size() > storage::kMaxKeyLength) return Error(kBadFormat);
  if (line.count > meta::kMaxTokens) return Error(meta::kGetFlagsTooLong);
  meta::Flags f;
  std::string_view error = kBadFormat;
  if (!meta::ParseFlags(line, kFirstFlag, &f, &error)) return Error(error);
  if (meta::HasLongOpaque(line, kFirstFlag)) return Error(meta::kOpaqueTooLong);

  const uint32_t now = store_->Now();
  const uint32_t ttl = AbsoluteOrZero(f.ttl, now);
  const uint32_t vivify = AbsoluteOrZero(f.vivify, now);
  storage::MetaGetRequest request{.key = f.key, .bump = !f.no_update};
  if (f.ttl.has_value()) request.touch = ttl;
  if (f.vivify.has_value()) request.vivify = CreatedExptime(line, kFirstFlag, ttl, vivify);
  if (f.recache.has_value()) {
    request.recache = AbsoluteExptime(*f.recache, now);
    request.recache_sees_touch = f.ttl.has_value() && Before(line, kFirstFlag, 'T', 'R');
  }
  request.binary_key = f.base64_key;
  request.explicit_version = f.new_cas;

  const bool show_cas = context_->config->cas_enabled;
  std::string* const out = out_;
  const LookupResult r = store_->MetaGet(request, [&](const storage::MetaGetView& v) {
    const storage::ItemView& item = v.item;
    if (!f.ttl.has_value()) stats_->AddLruHit(item.class_id, item.lru);
    if (f.value) {
      out->append("VA ");
      AppendNumber(out, item.value.size());
    } else {
      out->append("HD");
    }
    uint32_t exptime = v.created ? 0 : v.exptime_before;
    for (size_t i = kFirstFlag; i < line.count; ++i) {
      const std::string_view token = line.tokens[i];
      switch (token[0]) {
        case 'T':
          exptime = ttl;
          break;
        case 'N':
          if (v.created) exptime = vivify;
          break;
        case 's':
          out->append(" s");
          AppendNumber(out, item.value.size());
          break;
        case 't':
          out->append(" t");
          AppendTtl(out, exptime, v.now);
          break;
        case 'c':
          out->append(" c");
          AppendNumber(out, show_cas ? item.version : 0);
          break;
        case 'f':
          out->append(" f");
          AppendNumber(out, item.flags);
          break;
        case 'l':
          out->append(" l");
          AppendNumber(out, static_cast<uint32_t>(v.now - item.last_access));
          break;
        case 'h':
          out->append(item.fetched_before ? " h1" : " h0");
          break;
        case 'O':
          out->push_back(' ');
          out->append(token);
          break;
        case 'k':
          AppendKey(item.key, item.binary_key);
          break;
      }
    }
    // Z before W: a client never sees both (memcached's order).
    if (v.win_sent_before) out->append(" Z");
    if (item.stale) out->append(" X");
    if (v.won) out->append(" W");
    out->append("\r\n");
    if (f.value) {
      out->append(item.value);
      out->append("\r\n");
    }
  });

  if (r == LookupResult::kExpired) Add(stats_->get_expired);
  if (r == LookupResult::kFlushed) Add(stats_->get_flushed);
  if (r == LookupResult::kHit) {
    // memcached counts a hit with T as a touch, not a get; a miss is a get miss either way.
    Add(f.ttl.has_value() ? stats_->touch_cmds : stats_->get_cmds);
    Add(f.ttl.has_value() ? stats_->touch_hits : stats_->get_hits);
    return;
  }
  Add(stats_->get_cmds);
  Add(stats_->get_misses);
  if (f.no_reply) return;
  out_->append("EN");
  AppendOpaqueAndKey(line, f.key, f.base64_key);
  out_->append("\r\n");
}

// ---------------------------------------------------------------------------------------------
// ms

MetaCommands::HeaderStatus MetaCommands::ParseSetHeader(const TokenizedLine& line, SetHeader* h,
                                                        std::string_view* error) const {
  *error = kBadFormat;
  if (line.tokens[1].size() > storage::kMaxKeyLength || line.count == 2) {
    return HeaderStatus::kRefuse;
  }
  if (line.count > meta::kMaxTokens) {
    *error = meta::kFlagsTooLong;
    return HeaderStatus::kRefuse;
  }
  int32_t length;
  if (!text::ParseInt32(line.tokens[2], &length) || length < 0 ||
      length > std::numeric_limits<int32_t>::max() - 2) {
    return HeaderStatus::kRefuse;
  }
  // From here on memcached knows the block's size and discards it after an error.
  h->block = static_cast<size_t>(length) + 2;
  if (!meta::ParseFlags(line, kFirstSetFlag, &h->flags, error)) {
    return HeaderStatus::kRefuseAndSwallow;
  }
  const bool long_opaque = meta::HasLongOpaque(line, kFirstSetFlag);
  switch (h->flags.mode) {
    case 0:
    case 'S':
      h->mode = StoreMode::kSet;
      break;
    case 'E':
      h->mode = StoreMode::kAdd;
      break;
    case 'A':
      h->mode = StoreMode::kAppend;
      break;
    case 'P':
      h->mode = StoreMode::kPrepend;
      break;
    case 'R':
      h->mode = StoreMode::kReplace;
      break;
    default:
      *error = kBadSetMode;
      return HeaderStatus::kRefuseAndSwallow;
  }
  if (long_opaque) {
    *error = meta::kOpaqueTooLong;
    return HeaderStatus::kRefuseAndSwallow;
  }
  // As memcached: a CAS turns set and replace into cas; add ignores it; append and prepend
  // check it themselves.
  if (h->flags.cas.has_value() && (h->mode == StoreMode::kSet || h->mode == StoreMode::kReplace)) {
    h->mode = StoreMode::kCas;
  }
  if (storage::Item::TotalSize(h->flags.key.size(), static_cast<size_t>(length)) >
      store_->item_size_max()) {
    *error = ReplyFor(StoreResult::kTooLarge);
    return HeaderStatus::kRefuseAndSwallow;
  }
  return HeaderStatus::kReadBlock;
}

std::optional<size_t> MetaCommands::SetBlockSize(const TokenizedLine& line) const {
  SetHeader h;
  std::string_view error;
  if (ParseSetHeader(line, &h, &error) != HeaderStatus::kReadBlock) return std::nullopt;
  return h.block;
}

bool MetaCommands::Set(const TokenizedLine& line, std::string_view after, size_t* used,
                       uint64_t* swallow) {
  SetHeader h;
  std::string_view error;
  switch (ParseSetHeader(line, &h, &error)) {
    case HeaderStatus::kRefuse:
      Error(error);
      return true;
    case HeaderStatus::kRefuseAndSwallow:
      Error(error);
      *swallow = h.block;
      // As memcached: a value too large to store must not leave the old one readable.
      if (error == ReplyFor(StoreResult::kTooLarge)) store_->Delete(h.flags.key);
      return true;
    case HeaderStatus::kReadBlock:
      break;
  }
  if (after.size() < h.block) return false;
  *used += h.block;
  Add(stats_->set_cmds);
  const size_t length = h.block - 2;
  if (after[length] != '\r' || after[length + 1] != '\n') {
    Error(kBadDataChunk);
    return true;
  }
  const meta::Flags& f = h.flags;
  const bool cas_enabled = context_->config->cas_enabled;
  storage::StoreRequest request;
  request.mode = h.mode;
  request.key = f.key;
  request.value = after.substr(0, length);
  request.flags = f.client_flags;
  request.exptime = f.ttl.value_or(0);
  request.cas = cas_enabled ? f.cas.value_or(0) : 0;
  request.invalidate = f.invalidate && h.mode == StoreMode::kCas;
  request.binary_key = f.base64_key;
  request.explicit_version = f.new_cas;
  uint64_t version = 0;
  const StoreResult result = store_->Set(request, &version);
  if (h.mode == StoreMode::kCas) {
    if (result == StoreResult::kStored) Add(stats_->cas_hits);
    if (result == StoreResult::kExists) Add(stats_->cas_badval);
    if (result == StoreResult::kNotFound) Add(stats_->cas_misses);
  }
  const std::string_view code = MetaCodeFor(result);
  if (code.empty()) {
    Error(ReplyFor(result));
    return true;
  }
  if (result == StoreResult::kStored && f.no_reply) return true;
  out_->append(code);
  for (size_t i = kFirstSetFlag; i < line.count; ++i) {
    const std::string_view token = line.tokens[i];
    if (token[0] == 'O') {
      out_->push_back(' ');
      out_->append(token);
    } else if (token[0] == 'k') {
      AppendKey(f.key, f.base64_key);
    } else if (token[0] == 'c') {
      out_->append(" c");
      AppendNumber(out_, result == StoreResult::kStored && cas_enabled ? version : 0);
    }
  }
  out_->append("\r\n");
  return true;
}

// ---------------------------------------------------------------------------------------------
// md

void MetaCommands::Delete(const TokenizedLine& line) {
  if (line.tokens[1].size() > storage::kMaxKeyLength) return Error(kBadFormat);
  if (line.count > meta::kMaxTokens) return Error(meta::kFlagsTooLong);
  meta::Flags f;
  std::string_view error;
  if (!meta::ParseFlags(line, kFirstFlag, &f, &error)) return Error(meta::kBadFlag);
  if (meta::HasLongOpaque(line, kFirstFlag)) return Error(meta::kOpaqueTooLong);

  storage::DeleteRequest request{.key = f.key, .invalidate = f.invalidate};
  // memcached compares any C, so C0 never matches a stored CAS.
  if (f.cas.has_value()) request.cas = *f.cas != 0 ? *f.cas : std::numeric_limits<uint64_t>::max();
  if (f.invalidate && f.ttl.has_value()) request.exptime = AbsoluteExptime(*f.ttl, store_->Now());
  if (f.invalidate) request.explicit_version = f.new_cas;
  const storage::DeleteResult r = store_->Delete(request);
  if (r != storage::DeleteResult::kDeleted) {
    Add(stats_->delete_misses);
  } else if (!f.invalidate) {
    Add(stats_->delete_hits);
  }
  if (r == storage::DeleteResult::kDeleted && f.no_reply) return;
  out_->append(MetaCodeFor(r));
  AppendOpaqueAndKey(line, f.key, f.base64_key);
  out_->append("\r\n");
}

// ---------------------------------------------------------------------------------------------
// ma

void MetaCommands::Arithmetic(const TokenizedLine& line) {
  if (line.tokens[1].size() > storage::kMaxKeyLength) return Error(kBadFormat);
  if (line.count > meta::kMaxTokens) return Error(meta::kFlagsTooLong);
  meta::Flags f;
  std::string_view error;
  if (!meta::ParseFlags(line, kFirstFlag, &f, &error)) return Error(meta::kBadFlag);
  bool incr = true;
  switch (f.mode) {
    case 0:
    case 'I':
    case '+':
      break;
    case 'D':
    case '-':
      incr = false;
      break;
    default:
      return Error(kBadArithmeticMode);
  }
  if (meta::HasLongOpaque(line, kFirstFlag)) return Error(meta::kOpaqueTooLong);

  const uint32_t now = store_->Now();
  const uint32_t ttl = AbsoluteOrZero(f.ttl, now);
  const uint32_t vivify = AbsoluteOrZero(f.vivify, now);
  storage::DeltaRequest request{.key = f.key, .incr = incr, .delta = f.delta};
  request.cas = f.cas.value_or(0);  // as memcached's do_add_delta, C0 checks nothing
  if (f.ttl.has_value()) request.exptime = ttl;
  request.vivify = f.vivify.has_value();
  request.initial = f.initial;
  request.vivify_exptime = CreatedExptime(line, kFirstFlag, ttl, vivify);
  request.explicit_version = f.new_cas;
  storage::DeltaOutcome outcome;
  const DeltaResult r = store_->Delta(request, &outcome);

  if (r == DeltaResult::kOk && !outcome.created) Add(incr ? stats_->incr_hits : stats_->decr_hits);
  if (r == DeltaResult::kNotFound) Add(incr ? stats_->incr_misses : stats_->decr_misses);
  if (r == DeltaResult::kNonNumeric) return Error(ReplyFor(r));
  if (r == DeltaResult::kOutOfMemory) {
    return Error(outcome.missed ? kVivifyOutOfMemory : ReplyFor(r));
  }
  if (r == DeltaResult::kOk && !outcome.created && f.no_reply) return;

  char digits[24];
  size_t digits_len = 0;
  if (r == DeltaResult::kOk && f.value) {
    out_->append("VA ");
    const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), outcome.value);
    digits_len = static_cast<size_t>(end - digits);
    AppendNumber(out_, digits_len);
  } else {
    out_->append(MetaCodeFor(r));
  }
  const bool show_cas = context_->config->cas_enabled;
  uint32_t exptime = outcome.created ? 0 : outcome.exptime_before;
  for (size_t i = kFirstFlag; i < line.count; ++i) {
    const std::string_view token = line.tokens[i];
    const bool hit = r == DeltaResult::kOk;
    switch (token[0]) {
      case 'c':
        if (!hit) break;
        out_->append(" c");
        AppendNumber(out_, show_cas ? outcome.version : 0);
        break;
      case 't':
        if (!hit) break;
        out_->append(" t");
        AppendTtl(out_, exptime, now);
        break;
      case 'T':
        exptime = ttl;
        break;
      case 'N':
        if (outcome.created) exptime = vivify;
        break;
      case 'O':
        out_->push_back(' ');
        out_->append(token);
        break;
      case 'k':
        AppendKey(f.key, f.base64_key);
        break;
    }
  }
  out_->append("\r\n");
  if (digits_len > 0) {
    out_->append(digits, digits_len);
    out_->append("\r\n");
  }
}

// ---------------------------------------------------------------------------------------------
// me

void MetaCommands::Debug(const TokenizedLine& line) {
  if (line.count < 2 || line.tokens[1].size() > storage::kMaxKeyLength) return Error(kBadFormat);
  std::string_view key = line.tokens[1];
  char decoded[storage::kMaxKeyLength];
  if (line.count >= 3 && line.tokens[2] == "b") {
    const size_t n = Base64Decode(key, decoded);
    if (n == 0) return Error(kBadFormat);
    key = std::string_view(decoded, n);
  }
  std::string* const out = out_;
  const uint32_t now = store_->Now();
  const LookupResult r = store_->Peek(key, [&](const storage::ItemView& item) {
    out->append("ME ");
    if (item.binary_key) {
      Base64Encode(item.key, out);
    } else {
      out->append(item.key);
    }
    // memcached 1.6.18 prints now minus the expiry time, so a future one is negative.
    out->append(" exp=");
    if (item.exptime == 0) {
      out->append("-1");
    } else {
      AppendSigned(out, static_cast<int32_t>(now - item.exptime));
    }
    out->append(" la=");
    AppendNumber(out, static_cast<uint32_t>(now - item.last_access));
    out->append(" cas=");
    AppendNumber(out, item.version);
    out->append(item.fetched_before ? " fetch=yes" : " fetch=no");
    out->append(" cls=");
    AppendNumber(out, item.class_id);
    out->append(" size=");
    AppendNumber(out, storage::Item::TotalSize(item.key.size(), item.value.size()));
    out->append("\r\n");
  });
  if (r == LookupResult::kExpired) Add(stats_->get_expired);
  if (r == LookupResult::kFlushed) Add(stats_->get_flushed);
  if (r != LookupResult::kHit) out_->append("EN\r\n");
  Add(stats_->meta_cmds);
}

}  // namespace memtwin::server
