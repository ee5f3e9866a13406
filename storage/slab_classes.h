// The table of slab class chunk sizes, computed once from StorageOptions with memcached's
// algorithm (start at header + -n, multiply by -f, round up to the chunk alignment, stop when the
// next size would exceed chunk_max / f, then one class of exactly chunk_max). Immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace memtwin::storage {

struct SlabClass {
  uint32_t chunk_size;
  uint32_t chunks_per_page;
};

// Class ids start at 1 like memcached's; index 0 of classes() is unused padding.
class SlabClasses {
 public:
  static constexpr int kMaxClasses = 63;

  // `smallest` = header + min value space, before alignment. `chunk_max` is the largest chunk.
  SlabClasses(uint32_t smallest, double factor, uint32_t chunk_max, uint32_t page_size,
              uint32_t align);

  int count() const { return static_cast<int>(classes_.size()) - 1; }
  const SlabClass& at(int id) const { return classes_[id]; }
  uint32_t page_size() const { return page_size_; }

  // The smallest class whose chunks hold `size` bytes, or 0 when none does.
  int ClassFor(size_t size) const;

 private:
  std::vector<SlabClass> classes_;
  uint32_t page_size_;
};

}  // namespace memtwin::storage
