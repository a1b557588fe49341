#pragma once
// Batches from a Source, decoded by native worker threads with a bounded prefetch window.
// Batches are a pure function of (source, options, epoch): the permutation comes from
// (seed, epoch), each flip from (seed, epoch, sample index), so the worker count changes nothing.
// start_epoch() is called from one thread at a time; next() and stop() from any thread (concurrent
// next() calls each get a different batch, in no guaranteed order).
#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/source.h"

namespace mvface::data {

enum class OnCorrupt { Skip, Fail };

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool flip = false;
  uint64_t seed = 0;
  bool drop_last = false;
  int workers = 1;
  int prefetch = 4;  // batches decoded ahead of the consumer
  OnCorrupt on_corrupt = OnCorrupt::Fail;
  // Data parallel: each global batch is world_size x batch_size samples of the (seed, epoch)
  // permutation, and this rank gets its slice [rank x batch_size, (rank + 1) x batch_size); the last
  // incomplete global batch is dropped. world_size 1: the whole permutation.
  int rank = 0, world_size = 1;
  // Batches in page-locked memory (libtorch's caching host allocator), so that the upload to a GPU
  // needs no copy into a pinned buffer first. Needs CUDA (E_CONFIG otherwise).
  bool pinned = false;
};

struct Batch {
  at::Tensor images;                       // N x C x H x W float32, (x - 127.5) / 128
  at::Tensor labels;                       // N int64
  int64_t skipped = 0;                     // corrupt samples dropped from this batch (and from empty batches before it)
  std::vector<std::string> skipped_items;  // what each one was (its file, or its record)
  int64_t epoch = 0, index = 0;
};

class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<Source> source, LoaderOptions options);
  ~BatchLoader();  // stops and joins the workers, also mid-epoch
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Starts (or restarts) an epoch; skip_batches continues a resumed run at that batch.
  void start_epoch(int64_t epoch, int64_t skip_batches = 0);
  // Blocks until the next batch is ready; nullopt at the end of the epoch, after stop(), or when
  // another start_epoch() replaced the epoch. With onCorrupt = fail a corrupt sample's E_IO error
  // is thrown here, in batch order, and its batch is dropped.
  std::optional<Batch> next();
  void stop();

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  const Source& source() const { return *source_; }
  const LoaderOptions& options() const { return options_; }

 private:
  struct Pending;
  struct Claim;

  void work();
  bool claimable() const;
  Claim claim();
  void fill(Claim& claim) const;
  void finish(const Claim& claim);
  bool ready(int64_t batch) const;
  std::optional<Batch> assemble(Pending& pending, int64_t epoch, int64_t batch,
                                std::vector<std::string>& carried) const;
  std::vector<int64_t> permutation(int64_t epoch) const;

  std::shared_ptr<Source> source_;
  const LoaderOptions options_;
  const Shape shape_;
  int64_t batches_per_epoch_ = 0, end_position_ = 0;

  std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  bool started_ = false, stopping_ = false;
  uint64_t generation_ = 0;
  int64_t epoch_ = 0, consumed_ = 0, next_position_ = 0;
  std::vector<int64_t> order_;
  std::map<int64_t, std::shared_ptr<Pending>> pending_;
  std::vector<std::thread> workers_;
  std::once_flag joined_;
};

}  // namespace mvface::data
