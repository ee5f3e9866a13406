// A change to the store as it travels to a peer: the state after a client write (never the
// operation), so that applying it twice or out of order is harmless under last-writer-wins.
#pragma once

#include <cstdint>
#include <string_view>

namespace memtwin::storage {

enum class MutationKind : uint8_t {
  // The key now holds `value` with `flags`, `exptime` and `version`. Covers set, add, replace,
  // append, prepend, cas, incr and decr, and also touch and get-and-touch: a new expiry gets a
  // new version and travels with the value, so a receiver never pairs it with another value.
  kSet = 1,
  // The key was deleted by the write `version`; receivers keep a tombstone until `exptime`.
  // Also sent when a set fails (too large, no memory): memcached drops the old value then.
  kDelete = 2,
  // flush_all: items older than `version` become invalid at once when `exptime` is 0; else
  // items last stored at or before `exptime` - 1 become invalid at that time. `key` is empty.
  kFlushAll = 3,
};

const char* MutationKindName(MutationKind kind);

// Views into storage owned by the caller; valid only during the call that hands it out.
struct Mutation {
  MutationKind kind = MutationKind::kSet;
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  uint32_t exptime = 0;  // absolute unix seconds; 0 = never
  uint64_t version = 0;
};

// Receives every successful local mutation, exactly once, in per-key version order. Called with
// the key's stripe lock held: it must be quick and must not call back into the Store.
// Mutations that arrive through Store::Apply are not reported (they came from the peer).
class MutationSink {
 public:
  virtual ~MutationSink() = default;
  virtual void OnMutation(const Mutation& mutation) = 0;
};

}  // namespace memtwin::storage
