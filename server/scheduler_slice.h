// The scheduler time slice a thread asks for: Linux 6.12's EEVDF lets a waking thread whose slice
// is shorter than the running thread's take the CPU at once, instead of waiting for the running
// thread's slice (a few ms) to end. Worker threads ask for one when -o worker_slice_us is set;
// the integration tests read it back.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace memtwin::server {

enum class SliceRequest {
  kGranted,
  kIgnoredByKernel,  // before Linux 6.12: accepted and ignored
  kNotFairPolicy,    // a real-time or idle policy chosen by the operator (chrt): left alone
  kFailed,           // errno says why
};

// Asks for a `slice_us` slice on the calling thread (sched_setattr's sched_runtime for a
// SCHED_OTHER or SCHED_BATCH thread), keeping its nice value. The CPU share does not change:
// EEVDF still divides time by weight.
SliceRequest RequestSchedulerSlice(int slice_us);

// The slice thread `tid` runs with, in ns, as sched_getattr reports it; 0 when it cannot be read
// (or the kernel does not report slices).
uint64_t SchedulerSliceNs(pid_t tid);

}  // namespace memtwin::server
