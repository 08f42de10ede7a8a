// Reuse of the large buffers of model evaluations from one call to the next, owned by
// equipot instead of by process-wide malloc settings.
//
// libtorch on the CPU mallocs an evaluation's large tensors (edge features: tens to
// hundreds of MB), which glibc serves with mmap and returns with munmap, so every MD
// step maps and zero-fills them anew (30-40% of an 8,788-atom SchNet step). While an
// EvaluationMemoryScope is alive on a thread, torch CPU allocations of at least
// kPooledBytes made on that thread come from a pool of blocks and return to it when
// freed; every other allocation (other threads, small ones, torch used outside an
// evaluation) goes to torch's own allocator exactly as before. When the last scope
// ends, the pool keeps the blocks that evaluation used and frees the others, so memory
// is bounded by one evaluation's working set and follows the system when it shrinks.
// glibc and every other library of the host process are left alone.
#pragma once
#include <cstddef>
#include <cstdint>

namespace equipot {

constexpr size_t kPooledBytes = 256 * 1024;  // smaller blocks come from glibc's heap, unmapped never

// RAII: pooled allocation on this thread while alive (nestable). Installs the pool as
// torch's CPU allocator the first time (once per process); EQUIPOT_MEMORY_POOL=0 in the
// environment leaves torch's allocator alone and makes scopes do nothing.
class EvaluationMemoryScope {
 public:
  EvaluationMemoryScope();
  ~EvaluationMemoryScope();
  EvaluationMemoryScope(const EvaluationMemoryScope&) = delete;
  EvaluationMemoryScope& operator=(const EvaluationMemoryScope&) = delete;

 private:
  bool active_;
};

struct MemoryPoolStats {
  bool enabled = false;
  uint64_t cached_bytes = 0;     // free blocks kept for reuse
  uint64_t in_use_bytes = 0;     // pooled blocks held by live tensors
  uint64_t last_peak_bytes = 0;  // pooled bytes in use at the peak of the last evaluation
  uint64_t last_working_set_bytes = 0;  // bytes of the blocks it used (what the cache keeps)
  uint64_t reused = 0;           // allocations served from the cache
  uint64_t allocated = 0;        // allocations that needed new memory
};

MemoryPoolStats memory_pool_stats();

// Installs the pool if it is not yet (Model does when it loads); whether it is in use.
bool memory_pool_enabled();

}  // namespace equipot
