#include "storage/arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace memtwin::storage {
namespace {

// Refs are 1-based offsets in alignment units and 0 means "none", so the last unit a ref can
// name is 2^32 - 2: the range must stay below (2^32 - 1) units.
constexpr size_t kRefUnits = (size_t{1} << 32) - 1;

size_t PagesFor(size_t limit_bytes, size_t page_size) {
  return std::max<size_t>(1, limit_bytes / page_size);
}

}  // namespace

absl::StatusOr<Arena*> Arena::Create(size_t page_size, size_t limit_bytes, bool preallocate) {
  if (page_size == 0) return absl::InvalidArgumentError("arena needs a page size");
  const size_t pages = PagesFor(limit_bytes, page_size);
  const size_t bytes = page_size * pages;
  uint32_t shift = 3;
  while ((bytes >> shift) >= kRefUnits) ++shift;
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  if (preallocate) {
    // -L: the pages are faulted in now and the limit cannot move (as memcached, which refuses
    // cache_memlimit when it preallocated), so there is nothing to reserve beyond them.
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags | MAP_POPULATE, -1, 0);
    if (base == MAP_FAILED) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot reserve ", bytes, " bytes for slab pages: ", strerror(errno)));
    }
    return new Arena(static_cast<char*>(base), pages, pages, page_size, shift, true, limit_bytes);
  }
  // Reserve as far as this alignment unit reaches (the unit, and so the bytes per item, stay
  // what -m gives). The part beyond the limit is PROT_NONE: it costs no memory, and under -k
  // mlockall skips it (population ignores inaccessible mappings) until SetLimit opens it, when
  // mprotect on the locked mapping faults the new pages in, as -k promises.
  size_t reserved = ((kRefUnits << shift) - 1) / page_size;
  void* base = mmap(nullptr, reserved * page_size, PROT_NONE, flags, -1, 0);
  if (base == MAP_FAILED) {
    // A tight RLIMIT_AS or RLIMIT_MEMLOCK (-k) may allow -m but not the whole reach: run with a
    // limit that can only come down.
    reserved = pages;
    base = mmap(nullptr, bytes, PROT_NONE, flags, -1, 0);
    if (base == MAP_FAILED) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot reserve ", bytes, " bytes for slab pages: ", strerror(errno)));
    }
  }
  if (mprotect(base, bytes, PROT_READ | PROT_WRITE) != 0) {
    const int error = errno;
    munmap(base, reserved * page_size);
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot map ", bytes, " bytes for slab pages: ", strerror(error)));
  }
  return new Arena(static_cast<char*>(base), reserved, pages, page_size, shift, false, limit_bytes);
}

Arena::Arena(char* base, size_t reserved_pages, size_t usable_pages, size_t page_size,
             uint32_t align_shift, bool preallocated, size_t limit_bytes)
    : base_(base),
      reserved_pages_(reserved_pages),
      page_size_(page_size),
      align_shift_(align_shift),
      preallocated_(preallocated),
      usable_pages_(usable_pages),
      limit_bytes_(limit_bytes),
      page_limit_(usable_pages) {}

Arena::~Arena() { munmap(base_, reserved_pages_ * page_size_); }

char* Arena::TakePage() {
  // Acquire: a page below a limit SetLimit just raised must not be touched before its mprotect.
  const size_t limit = page_limit_.load(std::memory_order_acquire);
  size_t taken = pages_taken_.load(std::memory_order_relaxed);
  do {
    if (taken >= limit) return nullptr;
  } while (!pages_taken_.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed));
  return base_ + taken * page_size_;
}

char* Arena::TakePageBeyondLimit() {
  absl::MutexLock lock(&mu_);
  size_t taken = pages_taken_.load(std::memory_order_relaxed);
  do {
    if (taken >= reserved_pages_) return nullptr;
    if (taken >= usable_pages_) {
      char* const from = base_ + usable_pages_ * page_size_;
      if (mprotect(from, (taken + 1 - usable_pages_) * page_size_, PROT_READ | PROT_WRITE) != 0) {
        return nullptr;
      }
      usable_pages_ = taken + 1;
    }
    // TakePage may take pages below the limit meanwhile (it does not lock); then try the next.
  } while (!pages_taken_.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed));
  return base_ + taken * page_size_;
}

absl::Status Arena::SetLimit(size_t limit_bytes) {
  if (preallocated_) {
    return absl::FailedPreconditionError("the memory limit of preallocated pages cannot change");
  }
  const size_t pages = PagesFor(limit_bytes, page_size_);
  if (pages > reserved_pages_) {
    return absl::OutOfRangeError(
        absl::StrCat("the memory limit cannot exceed ", reserved_pages_ * page_size_, " bytes"));
  }
  absl::MutexLock lock(&mu_);
  if (pages > usable_pages_) {
    char* const from = base_ + usable_pages_ * page_size_;
    if (mprotect(from, (pages - usable_pages_) * page_size_, PROT_READ | PROT_WRITE) != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot map more slab pages: ", strerror(errno)));
    }
    usable_pages_ = pages;
  }
  limit_bytes_.store(limit_bytes, std::memory_order_relaxed);
  page_limit_.store(pages, std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace memtwin::storage
