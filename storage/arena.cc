#include "storage/arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace memtwin::storage {

absl::StatusOr<Arena*> Arena::Create(size_t page_size, size_t page_count, bool preallocate) {
  if (page_size == 0 || page_count == 0) {
    return absl::InvalidArgumentError("arena needs at least one page");
  }
  const size_t bytes = page_size * page_count;
  uint32_t shift = 3;
  while ((bytes >> shift) >= (size_t{1} << 32) - 1) ++shift;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  if (preallocate) flags |= MAP_POPULATE;
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (base == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot reserve ", bytes, " bytes for slab pages: ", strerror(errno)));
  }
  return new Arena(static_cast<char*>(base), bytes, page_size, page_count, shift);
}

Arena::Arena(char* base, size_t bytes, size_t page_size, size_t page_count, uint32_t align_shift)
    : base_(base),
      bytes_(bytes),
      page_size_(page_size),
      page_count_(page_count),
      align_shift_(align_shift) {}

Arena::~Arena() { munmap(base_, bytes_); }

char* Arena::TakePage() {
  size_t taken = pages_taken_.load(std::memory_order_relaxed);
  do {
    if (taken >= page_count_) return nullptr;
  } while (!pages_taken_.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed));
  return base_ + taken * page_size_;
}

}  // namespace memtwin::storage
