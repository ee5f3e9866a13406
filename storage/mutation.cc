#include "storage/mutation.h"

namespace memtwin::storage {

const char* MutationKindName(MutationKind kind) {
  switch (kind) {
    case MutationKind::kSet:
      return "Set";
    case MutationKind::kDelete:
      return "Delete";
    case MutationKind::kFlushAll:
      return "FlushAll";
  }
  return "Unknown";
}

}  // namespace memtwin::storage
