// One reserved range of virtual memory that holds every slab page, so that an item can be named
// by a 32-bit ItemRef (its offset in alignment units) instead of a 64-bit pointer. Pages are
// handed out in order up to the memory limit; the kernel backs them only when first touched,
// unless preallocation was asked for. The limit can move at run time (cache_memlimit): the range
// is reserved, inaccessible, as far as a ref can reach, and made usable as the limit rises.
// Page hand-out is lock-free; SetLimit serializes on a mutex; everything else is immutable.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/item.h"

namespace memtwin::storage {

class Arena {
 public:
  // Room for `limit_bytes / page_size` pages of `page_size` bytes (at least one). The alignment
  // unit is the smallest power of two >= 8 that lets a 32-bit ref cover that much (8 bytes up to
  // 32 GiB); the limit can later rise as far as that unit reaches (see SetLimit), except with
  // `preallocate`, where every page is faulted in now and the limit is fixed.
  static absl::StatusOr<Arena*> Create(size_t page_size, size_t limit_bytes, bool preallocate);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A new page, or nullptr when the limit is reached.
  char* TakePage();
  // A new page even past the limit, as far as the reservation goes (nullptr beyond it, and with
  // preallocated pages always beyond it). memcached lets a slab class with no page at all take
  // its first one this way, so that no item size is refused just because other sizes came first.
  char* TakePageBeyondLimit();

  // Moves the limit to `limit_bytes / page_size` pages (at least one). Raising makes more of the
  // reservation usable; lowering only stops the hand-out, pages already taken stay. Fails, and
  // changes nothing, when preallocated, beyond the reservation, or when the kernel refuses.
  absl::Status SetLimit(size_t limit_bytes);

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
  // The limit as last set, in bytes as given (memcached's limit_maxbytes) and in pages.
  size_t limit_bytes() const { return limit_bytes_.load(std::memory_order_relaxed); }
  size_t page_limit() const { return page_limit_.load(std::memory_order_relaxed); }
  // How far the limit can rise, in pages.
  size_t reserved_pages() const { return reserved_pages_; }
  size_t pages_taken() const { return pages_taken_.load(std::memory_order_relaxed); }

 private:
  Arena(char* base, size_t reserved_pages, size_t usable_pages, size_t page_size,
        uint32_t align_shift, bool preallocated, size_t limit_bytes);

  char* const base_;
  const size_t reserved_pages_;
  const size_t page_size_;
  const uint32_t align_shift_;
  const bool preallocated_;
  absl::Mutex mu_;
  // The prefix of the reservation that is readable and writable; it never shrinks, so a lower
  // limit followed by a higher one maps nothing twice. Pages taken beyond the limit extend it.
  size_t usable_pages_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> limit_bytes_;
  std::atomic<size_t> page_limit_;
  std::atomic<size_t> pages_taken_{0};
};

}  // namespace memtwin::storage
