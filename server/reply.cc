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

}  // namespace memtwin::server
