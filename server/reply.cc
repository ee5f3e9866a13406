#include "server/reply.h"

namespace memtwin::server {

using storage::DeleteResult;
using storage::DeltaResult;
using storage::LookupResult;
using storage::StoreResult;

std::string_view ReplyFor(StoreResult r) {
  switch (r) {
    case StoreResult::kStored:
      return "STORED";
    case StoreResult::kNotStored:
      return "NOT_STORED";
    case StoreResult::kExists:
      return "EXISTS";
    case StoreResult::kNotFound:
      return "NOT_FOUND";
    case StoreResult::kTooLarge:
      return "SERVER_ERROR object too large for cache";
    case StoreResult::kOutOfMemory:
      return "SERVER_ERROR out of memory storing object";
  }
  return "SERVER_ERROR Unhandled storage type.";
}

std::string_view ReplyFor(DeleteResult r) {
  switch (r) {
    case DeleteResult::kDeleted:
      return "DELETED";
    case DeleteResult::kNotFound:
      return "NOT_FOUND";
    case DeleteResult::kExists:
      return "EXISTS";
  }
  return "SERVER_ERROR unhandled delete result";
}

// kOk is answered with the new number instead.
std::string_view ReplyFor(DeltaResult r) {
  switch (r) {
    case DeltaResult::kOk:
      break;
    case DeltaResult::kNotFound:
      return "NOT_FOUND";
    case DeltaResult::kNonNumeric:
      return "CLIENT_ERROR cannot increment or decrement non-numeric value";
    case DeltaResult::kExists:
      return "EXISTS";
    case DeltaResult::kOutOfMemory:
      return "SERVER_ERROR out of memory";
  }
  return "SERVER_ERROR unhandled delta result";
}

// For "touch".
std::string_view ReplyFor(LookupResult r) {
  return r == LookupResult::kHit ? "TOUCHED" : "NOT_FOUND";
}

std::string_view MetaCodeFor(StoreResult r) {
  switch (r) {
    case StoreResult::kStored:
      return "HD";
    case StoreResult::kNotStored:
      return "NS";
    case StoreResult::kExists:
      return "EX";
    case StoreResult::kNotFound:
      return "NF";
    case StoreResult::kTooLarge:
    case StoreResult::kOutOfMemory:
      break;
  }
  return {};
}

std::string_view MetaCodeFor(DeleteResult r) {
  switch (r) {
    case DeleteResult::kDeleted:
      return "HD";
    case DeleteResult::kNotFound:
      return "NF";
    case DeleteResult::kExists:
      return "EX";
  }
  return {};
}

std::string_view MetaCodeFor(DeltaResult r) {
  switch (r) {
    case DeltaResult::kOk:
      return "HD";
    case DeltaResult::kNotFound:
      return "NF";
    case DeltaResult::kExists:
      return "EX";
    case DeltaResult::kNonNumeric:
    case DeltaResult::kOutOfMemory:
      break;
  }
  return {};
}

void CountLookup(ThreadStats* stats, LookupResult r, bool touch) {
  if (r == LookupResult::kExpired) ThreadStats::Add(stats->get_expired);
  if (r == LookupResult::kFlushed) ThreadStats::Add(stats->get_flushed);
  const bool hit = r == LookupResult::kHit;
  if (touch) {
    ThreadStats::Add(stats->touch_cmds);
    ThreadStats::Add(hit ? stats->touch_hits : stats->touch_misses);
  } else {
    ThreadStats::Add(stats->get_cmds);
    ThreadStats::Add(hit ? stats->get_hits : stats->get_misses);
  }
}

void CountCas(ThreadStats* stats, StoreResult r) {
  switch (r) {
    case StoreResult::kStored:
      ThreadStats::Add(stats->cas_hits);
      break;
    case StoreResult::kExists:
      ThreadStats::Add(stats->cas_badval);
      break;
    case StoreResult::kNotFound:
      ThreadStats::Add(stats->cas_misses);
      break;
    default:
      break;
  }
}

}  // namespace memtwin::server
