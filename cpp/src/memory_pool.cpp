#include "equipot/memory_pool.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace equipot {
namespace {

thread_local int scope_depth = 0;  // EvaluationMemoryScopes alive on this thread

// Blocks are rounded up to one of 8 sizes per doubling (at most 12.5% unused), so that
// an MD step whose edge count changed a little reuses the last step's blocks.
size_t size_class(size_t n) {
  const int top = 63 - __builtin_clzll(static_cast<unsigned long long>(n));
  const size_t step = (size_t{1} << top) / 8;  // >= 32 KiB: whole pages
  return (n + step - 1) / step * step;
}

// Blocks are mapped from the system, not malloc'ed: a freed block goes back to the
// system whole, where glibc would keep it in its heap (it raises its mmap threshold to
// the size of every large block freed, after which such blocks come from the heap and
// fragment it: resident memory then grew 135 MB over 1,000 steps of a varying system).
void* map_block(size_t size) {
  void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  TORCH_CHECK_WITH(OutOfMemoryError, block != MAP_FAILED, "equipot memory pool: could not map ", size,
                   " bytes (out of memory)");
  return block;
}

void unmap_block(void* block, size_t size) { munmap(block, size); }

class Pool {
 public:
  // A block of at least `size` bytes (a size class): a cached one of that class or up
  // to a quarter larger, else new memory.
  void* take(size_t size) {
    void* block = nullptr;
    size_t block_size = size;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= size + size / 4) {
        block = it->second;
        block_size = it->first;
        free_.erase(it);
        cached_ -= block_size;
        ++stats_.reused;
      } else {
        ++stats_.allocated;
      }
      in_use_ += block_size;
      peak_ = std::max(peak_, in_use_);
    }
    if (block == nullptr) block = map_block(block_size);
    std::lock_guard<std::mutex> lock(mutex_);
    Block& record = blocks_[block];
    record.size = block_size;
    if (record.evaluation != evaluation_) {  // first use in this evaluation
      record.evaluation = evaluation_;
      working_set_ += block_size;
    }
    return block;
  }

  // Frees `block` if the pool gave it (true), else leaves it to the caller (false).
  bool give_back(void* block) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto it = blocks_.find(block);
    if (it == blocks_.end()) return false;
    const size_t size = it->second.size;
    in_use_ -= size;
    // Freed after the evaluations (a result the caller kept): cached only if the last
    // evaluation used it.
    if (active_scopes_ == 0 && it->second.evaluation != evaluation_) {
      blocks_.erase(it);
      lock.unlock();
      unmap_block(block, size);
      return true;
    }
    free_.emplace(size, block);
    cached_ += size;
    return true;
  }

  void begin_scope() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (active_scopes_++ > 0) return;
    ++evaluation_;
    peak_ = in_use_;
    working_set_ = 0;
  }

  // The last scope ended: keep the blocks this evaluation used (the next one, of the
  // same system or a slightly changed one, needs them again), free the others.
  void end_scope() {
    std::vector<std::pair<void*, size_t>> released;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_scopes_ > 0) return;
      last_peak_ = peak_;
      last_working_set_ = working_set_;
      for (auto it = free_.begin(); it != free_.end();) {
        const auto record = blocks_.find(it->second);
        if (record->second.evaluation == evaluation_) {
          ++it;
          continue;
        }
        cached_ -= it->first;
        released.emplace_back(it->second, it->first);
        blocks_.erase(record);
        it = free_.erase(it);
      }
    }
    for (const auto& [block, size] : released) unmap_block(block, size);
  }

  MemoryPoolStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    MemoryPoolStats s = stats_;
    s.cached_bytes = cached_;
    s.in_use_bytes = in_use_;
    s.last_peak_bytes = last_peak_;
    s.last_working_set_bytes = last_working_set_;
    return s;
  }

 private:
  struct Block {
    size_t size = 0;
    uint64_t evaluation = 0;  // the last evaluation that used it
  };
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;       // size -> cached block
  std::unordered_map<void*, Block> blocks_;  // every block the pool owns (cached or in use)
  size_t cached_ = 0, in_use_ = 0, peak_ = 0, working_set_ = 0, last_peak_ = 0, last_working_set_ = 0;
  uint64_t evaluation_ = 0;  // outermost scopes begun so far
  int active_scopes_ = 0;    // on all threads
  MemoryPoolStats stats_;
};

Pool& pool() {
  static Pool* instance = new Pool();  // never destroyed: tensors may be freed during exit
  return *instance;
}

// torch's CPU allocator, with allocations inside a scope served by the pool. The data
// pointer is its own context (as in torch's default allocator), so raw_allocate and
// raw_deleter work; the deleter tells pooled blocks from the fallback's by address.
class PoolingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    if (scope_depth == 0 || n < kPooledBytes) return fallback()->allocate(n);
    void* block = pool().take(size_class(n));
    return {block, block, &release, c10::Device(c10::DeviceType::CPU)};
  }

  // Also raw_allocate's deleter, whose pointers may be the fallback's.
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  static void release(void* block) {
    if (!pool().give_back(block)) fallback()->raw_deleter()(block);
  }

  // torch's allocator as it was when the pool was installed.
  static c10::Allocator*& fallback() {
    static c10::Allocator* allocator = nullptr;
    return allocator;
  }
};

// Installs the pool once per process; false when EQUIPOT_MEMORY_POOL=0 or when torch
// keeps another allocator (one registered with a higher priority).
bool pool_installed() {
  static const bool installed = [] {
    const char* setting = std::getenv("EQUIPOT_MEMORY_POOL");
    if (setting != nullptr && std::strcmp(setting, "0") == 0) return false;
    c10::Allocator* current = c10::GetCPUAllocator();
    if (current->raw_deleter() == nullptr) return false;  // cannot hand back its blocks
    PoolingAllocator::fallback() = current;
    static PoolingAllocator allocator;
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
    return c10::GetCPUAllocator() == &allocator;
  }();
  return installed;
}

}  // namespace

EvaluationMemoryScope::EvaluationMemoryScope() : active_(pool_installed()) {
  if (!active_) return;
  if (scope_depth++ == 0) pool().begin_scope();
}

EvaluationMemoryScope::~EvaluationMemoryScope() {
  if (!active_) return;
  if (--scope_depth == 0) pool().end_scope();
}

bool memory_pool_enabled() { return pool_installed(); }

MemoryPoolStats memory_pool_stats() {
  MemoryPoolStats stats = pool().stats();
  stats.enabled = pool_installed();
  return stats;
}

}  // namespace equipot
