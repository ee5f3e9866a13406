// memcached's binary protocol (its proto_bin.c is the reference): a 24-byte header, then extras,
// key and value. memcached acts on a request once its header, extras and key are in; the value is
// read afterwards. So does this: a value too large for -I is refused from the header and
// discarded as it arrives (swallow_), and a storable value is a view into the connection's buffer
// once complete, never copied here.
//
// Where memcached's handling of malformed input would desynchronise the stream, this keeps the
// framing the header announces instead: the unexpected body bytes of an unknown command, STAT or
// TOUCH are skipped (memcached skips bodylen bytes after the key for an unknown command, and
// parses the extra bytes of the others as the next header).
#include "server/binary_protocol.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "server/config.h"
#include "server/reply.h"
#include "storage/item.h"
#include "storage/store.h"

namespace memtwin::server {
namespace binary {
namespace {

uint16_t Load16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) << 8 | static_cast<uint8_t>(p[1]));
}

uint32_t Load32(const char* p) { return static_cast<uint32_t>(Load16(p)) << 16 | Load16(p + 2); }

uint64_t Load64(const char* p) { return static_cast<uint64_t>(Load32(p)) << 32 | Load32(p + 4); }

void AppendBigEndian(std::string* out, uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>(v >> shift));
  }
}

}  // namespace

bool ParseHeader(std::string_view in, Header* header) {
  if (in.size() < kHeaderSize) return false;
  const char* p = in.data();
  header->magic = static_cast<uint8_t>(p[0]);
  header->opcode = static_cast<uint8_t>(p[1]);
  header->key_length = Load16(p + 2);
  header->extras_length = static_cast<uint8_t>(p[4]);
  header->data_type = static_cast<uint8_t>(p[5]);
  header->vbucket = Load16(p + 6);
  header->body_length = Load32(p + 8);
  std::memcpy(&header->opaque, p + 12, sizeof(header->opaque));
  header->cas = Load64(p + 16);
  return true;
}

void AppendResponseHeader(std::string* out, const Header& request, Status status,
                          uint8_t extras_length, uint16_t key_length, uint32_t body_length,
                          uint64_t cas) {
  out->push_back(static_cast<char>(kResponseMagic));
  out->push_back(static_cast<char>(request.opcode));
  AppendBigEndian(out, key_length, 2);
  out->push_back(static_cast<char>(extras_length));
  out->push_back(0);  // data type: raw bytes
  AppendBigEndian(out, static_cast<uint16_t>(status), 2);
  AppendBigEndian(out, body_length, 4);
  out->append(reinterpret_cast<const char*>(&request.opaque), sizeof(request.opaque));
  AppendBigEndian(out, cas, 8);
}

std::string_view ErrorText(Status status) {
  switch (status) {
    case Status::kSuccess:
      return "";
    case Status::kKeyNotFound:
      return "Not found";
    case Status::kKeyExists:
      return "Data exists for key.";
    case Status::kTooLarge:
      return "Too large.";
    case Status::kInvalidArguments:
      return "Invalid arguments";
    case Status::kNotStored:
      return "Not stored.";
    case Status::kNonNumeric:
      return "Non-numeric server-side value for incr or decr";
    case Status::kAuthError:
      return "Auth failure.";
    case Status::kUnknownCommand:
      return "Unknown command";
    case Status::kOutOfMemory:
      return "Out of memory";
  }
  return "";
}

}  // namespace binary

namespace {

using binary::Header;
using binary::Opcode;
using binary::Status;
using storage::DeleteResult;
using storage::DeltaResult;
using storage::ItemView;
using storage::LookupResult;
using storage::StoreMode;
using storage::StoreResult;

void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) { ThreadStats::Add(counter, n); }

// The opcode a quiet one ("Q") stands for; *quiet says whether it was one.
Opcode Loud(uint8_t opcode, bool* quiet) {
  *quiet = true;
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kGetQ:
      return Opcode::kGet;
    case Opcode::kGetKQ:
      return Opcode::kGetK;
    case Opcode::kSetQ:
      return Opcode::kSet;
    case Opcode::kAddQ:
      return Opcode::kAdd;
    case Opcode::kReplaceQ:
      return Opcode::kReplace;
    case Opcode::kDeleteQ:
      return Opcode::kDelete;
    case Opcode::kIncrementQ:
      return Opcode::kIncrement;
    case Opcode::kDecrementQ:
      return Opcode::kDecrement;
    case Opcode::kQuitQ:
      return Opcode::kQuit;
    case Opcode::kFlushQ:
      return Opcode::kFlush;
    case Opcode::kAppendQ:
      return Opcode::kAppend;
    case Opcode::kPrependQ:
      return Opcode::kPrepend;
    case Opcode::kGatQ:
      return Opcode::kGat;
    case Opcode::kGatKQ:
      return Opcode::kGatK;
    default:
      *quiet = false;
      return static_cast<Opcode>(opcode);
  }
}

bool CarriesValue(Opcode op) {
  return op == Opcode::kSet || op == Opcode::kAdd || op == Opcode::kReplace ||
         op == Opcode::kAppend || op == Opcode::kPrepend;
}

// Whether memcached acts on a storage request with this header (else "Invalid arguments"): a key,
// and flags + expiry as extras for set, add and replace, none for append and prepend.
bool StorageHeaderValid(const Header& h, Opcode op) {
  const bool with_extras = op == Opcode::kSet || op == Opcode::kAdd || op == Opcode::kReplace;
  return h.key_length > 0 && h.extras_length == (with_extras ? 8 : 0);
}

// The text "stats" group a binary STAT names, or nullopt for "Not found". As memcached's binary
// STAT: "reset" and "settings" match as prefixes, "conns" is text-only, and "detail" (per-prefix
// stats, which memtwin does not keep) is not there.
std::optional<std::string_view> StatsGroup(std::string_view key) {
  if (key.rfind("reset", 0) == 0) return "reset";
  if (key.rfind("settings", 0) == 0) return "settings";
  if (key.empty() || key == "items" || key == "slabs" || key == "sizes") return key;
  return std::nullopt;
}

// One request, from its header, extras and key; answers into `out`.
class Request {
 public:
  Request(ServerContext* context, ThreadStats* stats, std::string* out, const Header& header,
          std::string_view extras, std::string_view key, bool quiet)
      : context_(context),
        stats_(stats),
        store_(context->store),
        cas_enabled_(context->config->cas_enabled),
        out_(out),
        header_(header),
        extras_(extras),
        key_(key),
        quiet_(quiet) {}

  void Error(Status status) {
    const std::string_view text = binary::ErrorText(status);
    binary::AppendResponseHeader(out_, header_, status, 0, 0, static_cast<uint32_t>(text.size()),
                                 0);
    out_->append(text);
  }

  // A success with no extras or key, unless the request was quiet.
  void Success(std::string_view body = {}, uint64_t cas = 0) {
    if (quiet_) return;
    binary::AppendResponseHeader(out_, header_, Status::kSuccess, 0, 0,
                                 static_cast<uint32_t>(body.size()), cas);
    out_->append(body);
  }

  uint64_t CasOf(uint64_t version) const { return cas_enabled_ ? version : 0; }

  void Retrieve(Opcode op);
  void Update(Opcode op, std::string_view value);
  void Delete();
  void Arithmetic(bool incr);
  void Flush();

 private:
  ServerContext* const context_;
  ThreadStats* const stats_;
  storage::Store* const store_;
  const bool cas_enabled_;
  std::string* const out_;
  const Header& header_;
  const std::string_view extras_;
  const std::string_view key_;
  const bool quiet_;
};

void Request::Retrieve(Opcode op) {
  const bool touch = op == Opcode::kTouch || op == Opcode::kGat || op == Opcode::kGatK;
  const bool with_key = op == Opcode::kGetK || op == Opcode::kGatK;
  const bool with_value = op != Opcode::kTouch;
  auto visit = [&](const ItemView& item) {
    if (!touch) stats_->AddLruHit(item.class_id, item.lru);
    const size_t key_length = with_key ? key_.size() : 0;
    const size_t body = 4 + key_length + (with_value ? item.value.size() : 0);
    binary::AppendResponseHeader(out_, header_, Status::kSuccess, 4,
                                 static_cast<uint16_t>(key_length), static_cast<uint32_t>(body),
                                 CasOf(item.version));
    binary::AppendBigEndian(out_, item.flags, 4);
    if (with_key) out_->append(key_);
    if (with_value) out_->append(item.value);
  };
  const LookupResult r = touch ? store_->GetAndTouch(key_, binary::Load32(extras_.data()), visit)
                               : store_->Get(key_, visit);
  CountLookup(stats_, r, touch);
  if (r == LookupResult::kHit || quiet_) return;
  if (with_key) {  // a miss names the key instead of saying "Not found"
    binary::AppendResponseHeader(out_, header_, Status::kKeyNotFound, 0,
                                 static_cast<uint16_t>(key_.size()),
                                 static_cast<uint32_t>(key_.size()), 0);
    out_->append(key_);
  } else {
    Error(Status::kKeyNotFound);
  }
}

void Request::Update(Opcode op, std::string_view value) {
  Add(stats_->set_cmds);
  storage::StoreRequest request;
  request.key = key_;
  request.value = value;
  switch (op) {
    case Opcode::kAdd:
      request.mode = StoreMode::kAdd;
      break;
    case Opcode::kReplace:
      request.mode = StoreMode::kReplace;
      break;
    case Opcode::kAppend:
      request.mode = StoreMode::kAppend;
      break;
    case Opcode::kPrepend:
      request.mode = StoreMode::kPrepend;
      break;
    default:
      request.mode = StoreMode::kSet;
      break;
  }
  if (op != Opcode::kAppend && op != Opcode::kPrepend) {
    request.flags = binary::Load32(extras_.data());
    request.exptime = binary::Load32(extras_.data() + 4);
  }
  // Without -C a non-zero CAS turns set, add and replace into a compare-and-swap (and is checked
  // by append and prepend); with -C items carry none and memcached ignores it.
  request.cas = CasOf(header_.cas);
  const bool compare = request.cas != 0 && op != Opcode::kAppend && op != Opcode::kPrepend;
  if (compare) request.mode = StoreMode::kCas;
  uint64_t version = 0;
  const StoreResult result = store_->Set(request, &version);
  if (compare) CountCas(stats_, result);
  const bool concatenate = op == Opcode::kAppend || op == Opcode::kPrepend;
  switch (result) {
    case StoreResult::kStored:
      Success({}, CasOf(version));
      return;
    case StoreResult::kExists:
      Error(Status::kKeyExists);
      return;
    case StoreResult::kNotFound:
      Error(Status::kKeyNotFound);
      return;
    case StoreResult::kNotStored:
      Error(op == Opcode::kAdd       ? Status::kKeyExists
            : op == Opcode::kReplace ? Status::kKeyNotFound
                                     : Status::kNotStored);
      return;
    // memcached allocates a set's item when the header arrives, so its failures are "Too large."
    // and "Out of memory"; append and prepend allocate the joined item when storing, and any
    // failure there is "Not stored.".
    case StoreResult::kTooLarge:
      Error(concatenate ? Status::kNotStored : Status::kTooLarge);
      return;
    case StoreResult::kOutOfMemory:
      Error(concatenate ? Status::kNotStored : Status::kOutOfMemory);
      return;
  }
}

void Request::Delete() {
  // With -C memcached compares a non-zero CAS with the item's, which is then always 0, so it
  // never matches; a version is never 0, which does the same here.
  const DeleteResult r = store_->Delete(key_, header_.cas);
  switch (r) {
    case DeleteResult::kDeleted:
      Add(stats_->delete_hits);
      Success();
      return;
    case DeleteResult::kNotFound:
      Add(stats_->delete_misses);
      Error(Status::kKeyNotFound);
      return;
    case DeleteResult::kExists:
      Error(Status::kKeyExists);
      return;
  }
}

void Request::Arithmetic(bool incr) {
  storage::DeltaRequest request{.key = key_, .incr = incr, .delta = binary::Load64(extras_.data())};
  request.cas = header_.cas;  // with -C never matching, as for delete
  // An expiration of all ones means "do not create"; anything else creates a missing counter
  // holding the initial value.
  const uint32_t expiration = binary::Load32(extras_.data() + 16);
  if (expiration != 0xffffffff) {
    request.vivify = true;
    request.initial = binary::Load64(extras_.data() + 8);
    request.vivify_exptime = storage::AbsoluteExptime(expiration, store_->Now());
  }
  storage::DeltaOutcome outcome;
  const DeltaResult r = store_->Delta(request, &outcome);
  if ((r == DeltaResult::kOk && !outcome.created) || r == DeltaResult::kOutOfMemory) {
    Add(incr ? stats_->incr_hits : stats_->decr_hits);
  } else if (r == DeltaResult::kNotFound) {
    Add(incr ? stats_->incr_misses : stats_->decr_misses);
  }
  switch (r) {
    case DeltaResult::kOk: {
      char body[8];
      for (int i = 0; i < 8; ++i) body[i] = static_cast<char>(outcome.value >> (56 - 8 * i));
      Success(std::string_view(body, sizeof(body)), CasOf(outcome.version));
      return;
    }
    case DeltaResult::kNotFound:
      Error(Status::kKeyNotFound);
      return;
    case DeltaResult::kNonNumeric:
      Error(Status::kNonNumeric);
      return;
    case DeltaResult::kExists:
      Error(Status::kKeyExists);
      return;
    case DeltaResult::kOutOfMemory:
      Error(Status::kOutOfMemory);
      return;
  }
}

void Request::Flush() {
  // Unlike the text protocol's flush_all, memcached counts a binary flush only when it is allowed.
  if (!context_->config->flush_enabled) {
    Error(Status::kAuthError);
    return;
  }
  Add(stats_->flush_cmds);
  store_->FlushAll(extras_.size() == 4 ? binary::Load32(extras_.data()) : 0);
  Success();
}

}  // namespace

BinaryProtocol::BinaryProtocol(ServerContext* context, ThreadStats* stats)
    : context_(context), stats_(stats), text_(context, stats) {}

BinaryProtocol::After BinaryProtocol::Process(std::string_view in, std::string* out,
                                              size_t* consumed, int max_requests) {
  return ProcessRequests(
      in, consumed, max_requests, &swallow_,
      [&](std::string_view rest, size_t* used) { return Handle(rest, out, used); },
      [&](std::string_view rest) { return HasCompleteRequest(rest); });
}

namespace {

// Bytes of `header`'s request that must be in before it is acted on: header, extras and key, and
// the value too when it is one that will be stored.
size_t BytesToAct(const Header& header, size_t item_size_max) {
  const size_t fixed = binary::kHeaderSize + header.extras_length + header.key_length;
  bool quiet;
  const Opcode op = Loud(header.opcode, &quiet);
  if (!CarriesValue(op)) return fixed;
  const size_t framed = size_t{header.extras_length} + header.key_length;
  if (header.body_length < framed || header.key_length > storage::kMaxKeyLength ||
      !StorageHeaderValid(header, op)) {
    return fixed;  // refused from the header
  }
  const size_t value = header.body_length - framed;
  if (storage::Item::TotalSize(header.key_length, value) > item_size_max) return fixed;
  return fixed + value;
}

}  // namespace

bool BinaryProtocol::HasCompleteRequest(std::string_view in) const {
  Header header;
  if (!binary::ParseHeader(in, &header)) return false;
  if (header.magic != binary::kRequestMagic) return true;
  return in.size() >= BytesToAct(header, context_->store->item_size_max());
}

BinaryProtocol::Step BinaryProtocol::Handle(std::string_view in, std::string* out, size_t* used) {
  Header h;
  if (!binary::ParseHeader(in, &h)) return Step::kNeedMore;
  const bool verbose = context_->verbosity.load(std::memory_order_relaxed) > 0;
  if (h.magic != binary::kRequestMagic) {
    if (verbose) std::fprintf(stderr, "Invalid magic:  %x\n", h.magic);
    return Step::kClose;  // as memcached: no reply
  }
  const size_t fixed = binary::kHeaderSize + h.extras_length + h.key_length;
  if (in.size() < fixed) return Step::kNeedMore;
  const std::string_view extras = in.substr(binary::kHeaderSize, h.extras_length);
  const std::string_view key = in.substr(binary::kHeaderSize + h.extras_length, h.key_length);
  bool quiet;
  const Opcode op = Loud(h.opcode, &quiet);
  Request request(context_, stats_, out, h, extras, key, quiet);

  const size_t framed = size_t{h.extras_length} + h.key_length;
  if (framed > h.body_length) {
    *used = fixed;
    request.Error(Status::kUnknownCommand);
    return Step::kClose;
  }
  const uint32_t value_length = h.body_length - static_cast<uint32_t>(framed);
  const auto protocol_error = [&] {
    if (verbose) {
      std::fprintf(stderr, "Protocol error (opcode %02x), close connection\n", h.opcode);
    }
    *used = fixed;
    request.Error(Status::kInvalidArguments);
    return Step::kClose;
  };
  if (h.key_length > storage::kMaxKeyLength) return protocol_error();

  const bool bare = h.extras_length == 0 && h.key_length == 0 && h.body_length == 0;
  const bool key_only = h.key_length > 0 && h.extras_length == 0 && value_length == 0;
  *used = fixed;
  switch (op) {
    case Opcode::kGet:
    case Opcode::kGetK:
      if (!key_only) return protocol_error();
      request.Retrieve(op);
      return Step::kDone;
    case Opcode::kTouch:
    case Opcode::kGat:
    case Opcode::kGatK:
      if (h.extras_length != 4 || h.key_length == 0) return protocol_error();
      swallow_ = value_length;
      request.Retrieve(op);
      return Step::kDone;
    case Opcode::kSet:
    case Opcode::kAdd:
    case Opcode::kReplace:
    case Opcode::kAppend:
    case Opcode::kPrepend: {
      if (!StorageHeaderValid(h, op)) return protocol_error();
      if (storage::Item::TotalSize(h.key_length, value_length) > context_->store->item_size_max()) {
        request.Error(Status::kTooLarge);
        swallow_ = value_length;
        // As memcached: a set that cannot store its value must not leave the old one readable.
        if (op == Opcode::kSet) context_->store->Delete(key);
        return Step::kDone;
      }
      if (in.size() < fixed + value_length) return Step::kNeedMore;
      *used = fixed + value_length;
      request.Update(op, in.substr(fixed, value_length));
      return Step::kDone;
    }
    case Opcode::kDelete:
      if (!key_only) return protocol_error();
      request.Delete();
      return Step::kDone;
    case Opcode::kIncrement:
    case Opcode::kDecrement:
      if (h.key_length == 0 || h.extras_length != 20 || value_length != 0) {
        return protocol_error();
      }
      request.Arithmetic(op == Opcode::kIncrement);
      return Step::kDone;
    case Opcode::kFlush:
      if (h.key_length != 0 || value_length != 0 ||
          (h.extras_length != 0 && h.extras_length != 4)) {
        return protocol_error();
      }
      request.Flush();
      return Step::kDone;
    case Opcode::kNoop:
      if (!bare) return protocol_error();
      request.Success();
      return Step::kDone;
    case Opcode::kVersion:
      if (!bare) return protocol_error();
      request.Success(kVersion);
      return Step::kDone;
    case Opcode::kQuit:
      if (!bare) return protocol_error();
      request.Success();
      return Step::kClose;
    case Opcode::kStat:
      if (h.extras_length != 0) return protocol_error();
      swallow_ = value_length;
      Stats(h, key, out);
      return Step::kDone;
    default:
      swallow_ = value_length;
      request.Error(Status::kUnknownCommand);
      return Step::kDone;
  }
}

// STAT <group>: each "STAT name value" line of the text protocol's "stats <group>" as a reply of
// its own (key = name, value = value), then an empty one; an unknown group is "Not found".
void BinaryProtocol::Stats(const Header& header, std::string_view group, std::string* out) {
  std::string text;
  const std::optional<std::string_view> text_group = StatsGroup(group);
  bool known = text_group.has_value();
  if (known) {
    std::string command = "stats";
    if (!text_group->empty()) command.append(" ").append(*text_group);
    command += "\r\n";
    size_t consumed = 0;
    text_.Process(command, &text, &consumed, 1);
    known = text.rfind("STAT ", 0) == 0 || text == "END\r\n" || text == "RESET\r\n";
  }
  if (!known) {
    const std::string_view error = binary::ErrorText(Status::kKeyNotFound);
    binary::AppendResponseHeader(out, header, Status::kKeyNotFound, 0, 0,
                                 static_cast<uint32_t>(error.size()), 0);
    out->append(error);
    return;
  }
  for (std::string_view rest = text; rest.rfind("STAT ", 0) == 0;) {
    const size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(5, eol - 5);
    rest.remove_prefix(eol + 2);
    const size_t space = line.find(' ');
    const std::string_view name = line.substr(0, space);
    const std::string_view value =
        space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    binary::AppendResponseHeader(out, header, Status::kSuccess, 0,
                                 static_cast<uint16_t>(name.size()),
                                 static_cast<uint32_t>(name.size() + value.size()), 0);
    out->append(name);
    out->append(value);
  }
  binary::AppendResponseHeader(out, header, Status::kSuccess, 0, 0, 0, 0);
}

}  // namespace memtwin::server
