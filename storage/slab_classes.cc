#include "storage/slab_classes.h"

#include <algorithm>

namespace memtwin::storage {

SlabClasses::SlabClasses(uint32_t smallest, double factor, uint32_t chunk_max, uint32_t page_size,
                         uint32_t align)
    : page_size_(page_size) {
  classes_.push_back({0, 0});
  uint32_t size = smallest;
  // Same loop shape as memcached's slabs_init, including the truncating multiply, so that with
  // the same header size the table matches `memcached -vv` line for line.
  while (static_cast<int>(classes_.size()) < kMaxClasses) {
    if (size >= chunk_max / factor) break;
    if (size % align) size += align - size % align;
    classes_.push_back({size, page_size / size});
    size = static_cast<uint32_t>(size * factor);
  }
  classes_.push_back({chunk_max, page_size / chunk_max});
}

int SlabClasses::ClassFor(size_t size) const {
  auto it = std::lower_bound(classes_.begin() + 1, classes_.end(), size,
                             [](const SlabClass& c, size_t s) { return c.chunk_size < s; });
  if (it == classes_.end()) return 0;
  return static_cast<int>(it - classes_.begin());
}

}  // namespace memtwin::storage
