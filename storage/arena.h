// One reserved range of virtual memory that holds every slab page, so that an item can be named
// by a 32-bit ItemRef (its offset in alignment units) instead of a 64-bit pointer. Pages are
// handed out in order up to the memory limit; the kernel backs them only when first touched,
// unless preallocation was asked for. Page hand-out is lock-free; everything else is immutable.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "storage/item.h"

namespace memtwin::storage {

class Arena {
 public:
  // Reserves room for `page_count` pages of `page_size` bytes. The alignment unit is the smallest
  // power of two >= 8 that lets a 32-bit ref cover the whole range (8 bytes up to 32 GiB).
  static absl::StatusOr<Arena*> Create(size_t page_size, size_t page_count, bool preallocate);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A new page, or nullptr when the limit is reached.
  char* TakePage();

  Item* Get(ItemRef ref) const {
    return reinterpret_cast<Item*>(base_ + (static_cast<size_t>(ref - 1) << align_shift_));
  }
  ItemRef RefOf(const Item* item) const {
    return static_cast<ItemRef>(
               (static_cast<size_t>(reinterpret_cast<const char*>(item) - base_)) >> align_shift_) +
           1;
  }

  uint32_t alignment() const { return 1u << align_shift_; }
  size_t page_size() const { return page_size_; }
  size_t page_count() const { return page_count_; }
  size_t pages_taken() const { return pages_taken_.load(std::memory_order_relaxed); }

 private:
  Arena(char* base, size_t bytes, size_t page_size, size_t page_count, uint32_t align_shift);

  char* const base_;
  const size_t bytes_;
  const size_t page_size_;
  const size_t page_count_;
  const uint32_t align_shift_;
  std::atomic<size_t> pages_taken_{0};
};

}  // namespace memtwin::storage
