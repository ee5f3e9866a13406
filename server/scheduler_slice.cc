#include "server/scheduler_slice.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace memtwin::server {
namespace {

// glibc 2.36 has no sched_setattr; this is the kernel's struct sched_attr up to its first
// version's end (SCHED_ATTR_SIZE_VER0), as the sched_setattr(2) manual tells callers to declare.
struct KernelSchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};
constexpr uint64_t kSchedFlagResetOnFork = 0x01;

bool GetAttr(pid_t tid, KernelSchedAttr* attr) {
  std::memset(attr, 0, sizeof(*attr));
  return syscall(SYS_sched_getattr, tid, attr, sizeof(*attr), 0) == 0;
}

}  // namespace

SliceRequest RequestSchedulerSlice(int slice_us) {
  KernelSchedAttr attr;
  if (!GetAttr(0, &attr)) return SliceRequest::kFailed;
  if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH) {
    return SliceRequest::kNotFairPolicy;
  }
  const uint64_t slice_ns = static_cast<uint64_t>(slice_us) * 1000;
  attr.size = sizeof(attr);
  attr.sched_flags &= kSchedFlagResetOnFork;  // sched_nice, as read, keeps the nice value
  attr.sched_runtime = slice_ns;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return SliceRequest::kFailed;
  if (!GetAttr(0, &attr)) return SliceRequest::kFailed;
  return attr.sched_runtime == slice_ns ? SliceRequest::kGranted : SliceRequest::kIgnoredByKernel;
}

uint64_t SchedulerSliceNs(pid_t tid) {
  KernelSchedAttr attr;
  return GetAttr(tid, &attr) ? attr.sched_runtime : 0;
}

}  // namespace memtwin::server
