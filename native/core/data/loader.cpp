#include "data/loader.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <numeric>

#include "data/random.h"
#include "errors.h"

namespace mvface::data {
namespace {

// `count` floats, page-locked when `pinned` (libtorch's caching host allocator); undefined when out
// of memory.
at::Tensor allocate_floats(int64_t count, bool pinned) {
  try {
    return at::empty({count}, at::TensorOptions().dtype(at::kFloat).pinned_memory(pinned));
  } catch (const std::exception&) {
    return {};
  }
}

void check_options(const LoaderOptions& o) {
  if (o.batch_size < 1) fail("E_CONFIG", "batchSize", "must be at least 1");
  if (o.workers < 1 || o.workers > 256) fail("E_CONFIG", "workers", "must be in [1, 256]");
  if (o.prefetch < 1 || o.prefetch > 1024) fail("E_CONFIG", "prefetch", "must be in [1, 1024]");
  if (o.world_size < 1) fail("E_CONFIG", "worldSize", "must be at least 1");
  if (o.rank < 0 || o.rank >= o.world_size) fail("E_CONFIG", "rank", "must be in [0, worldSize)");
  if (o.pinned && !at::hasCUDA())
    fail("E_CONFIG", "pinned", "page-locked batches are for the upload to a GPU: this build or machine has no CUDA");
}

// This rank's slice of every complete global batch, in order.
std::vector<int64_t> rank_slices(const std::vector<int64_t>& order, const LoaderOptions& o) {
  const int64_t b = o.batch_size, global = b * o.world_size;
  const int64_t batches = static_cast<int64_t>(order.size()) / global;
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(batches * b));
  for (int64_t i = 0; i < batches; ++i) {
    const auto first = order.begin() + i * global + o.rank * b;
    mine.insert(mine.end(), first, first + b);
  }
  return mine;
}

}  // namespace

// One batch being decoded: workers write rows of `images` in place, the consumer assembles it.
// Workers never call ATen (a process that exits mid-epoch tears ATen down under them).
struct BatchLoader::Pending {
  at::Tensor images;  // n x C x H x W values, flat
  std::vector<int64_t> labels;
  std::vector<char> ok;
  std::vector<std::string> corrupt;  // per slot: what was skipped there, when it was
  int64_t remaining = 0;
  std::exception_ptr error;
  int64_t error_slot = -1;
};

// One sample handed to a worker: where it goes and what to load.
struct BatchLoader::Claim {
  std::shared_ptr<Pending> pending;
  int64_t slot = 0, index = 0;
  bool flip = false;
  bool ok = true;
  int64_t label = 0;
  std::string corrupt;
  std::exception_ptr error;
};

BatchLoader::BatchLoader(std::shared_ptr<Source> source, LoaderOptions options)
    : source_(std::move(source)), options_(options), shape_(source_->shape()) {
  check_options(options_);
  const int64_t b = options_.batch_size, world = options_.world_size;
  const int64_t n = world == 1 ? source_->size() : source_->size() / (b * world) * b;
  batches_per_epoch_ = options_.drop_last ? n / b : (n + b - 1) / b;
  end_position_ = options_.drop_last ? batches_per_epoch_ * b : n;
  try {
    for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { work(); });
  } catch (...) {  // no more threads: join those that started
    stop();
    throw;
  }
}

BatchLoader::~BatchLoader() { stop(); }

void BatchLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  ready_cv_.notify_all();
  std::call_once(joined_, [this] {
    for (auto& t : workers_) t.join();
  });
}

std::vector<int64_t> BatchLoader::permutation(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(source_->size()));
  std::iota(order.begin(), order.end(), 0);
  if (!options_.shuffle) return options_.world_size == 1 ? order : rank_slices(order, options_);
  Stream s(hash_keys(options_.seed, 0x5EED, static_cast<uint64_t>(epoch)));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[s.below(i)]);
  return options_.world_size == 1 ? order : rank_slices(order, options_);
}

void BatchLoader::start_epoch(int64_t epoch, int64_t skip_batches) {
  if (epoch < 0) fail("E_CONFIG", "epoch", "must be a non-negative integer");
  if (skip_batches < 0 || skip_batches > batches_per_epoch_)
    fail("E_CONFIG", "skip", "must be in [0, " + std::to_string(batches_per_epoch_) + "] (batches per epoch)");
  std::vector<int64_t> order = permutation(epoch);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) fail("E_CONFIG", "loader", "disposed");
    ++generation_;
    epoch_ = epoch;
    order_ = std::move(order);
    pending_.clear();
    consumed_ = skip_batches;
    next_position_ = skip_batches * options_.batch_size;
    started_ = true;
  }
  work_cv_.notify_all();
  ready_cv_.notify_all();
}

bool BatchLoader::claimable() const {
  return started_ && next_position_ < end_position_ &&
         next_position_ / options_.batch_size < consumed_ + options_.prefetch;
}

void BatchLoader::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || claimable(); });
    if (stopping_) return;
    Claim c = claim();
    lock.unlock();
    fill(c);
    lock.lock();
    finish(c);
  }
}

// Called with the mutex held.
BatchLoader::Claim BatchLoader::claim() {
  const int64_t b = next_position_ / options_.batch_size;
  auto& pending = pending_[b];
  if (!pending) {
    const int64_t n = std::min(options_.batch_size, end_position_ - b * options_.batch_size);
    pending = std::make_shared<Pending>();
    pending->images = allocate_floats(n * shape_.pixels(), options_.pinned);
    if (!pending->images.defined()) pending->error = std::make_exception_ptr(std::bad_alloc());
    pending->labels.assign(n, 0);
    pending->ok.assign(n, 0);
    pending->corrupt.assign(n, std::string());
    pending->remaining = n;
  }
  Claim c;
  c.pending = pending;
  c.slot = next_position_ % options_.batch_size;
  c.index = order_[next_position_];
  c.flip = options_.flip && (hash_keys(options_.seed, 0xF11B, epoch_, c.index) & 1);
  ++next_position_;
  return c;
}

// Decodes one sample into its row: HWC uint8 -> CHW float, normalised, mirrored when flipped.
void BatchLoader::fill(Claim& c) const {
  if (!c.pending->images.defined()) {  // the allocation failed: the batch already holds the error
    c.ok = false;
    return;
  }
  try {
    Sample s = source_->load(c.index);
    if (static_cast<int64_t>(s.pixels.size()) != shape_.pixels())
      fail("E_SHAPE", "sample " + std::to_string(c.index), "decoded to an unexpected number of pixels");
    const int64_t C = shape_.channels, H = shape_.height, W = shape_.width;
    float* row = c.pending->images.data_ptr<float>() + c.slot * C * H * W;
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        const uint8_t* px = s.pixels.data() + (y * W + (c.flip ? W - 1 - x : x)) * C;
        for (int64_t ch = 0; ch < C; ++ch) row[(ch * H + y) * W + x] = (px[ch] - 127.5f) / 128.0f;
      }
    }
    c.label = s.label;
  } catch (const Error& e) {
    c.ok = false;
    c.corrupt = e.argument().empty() ? "sample " + std::to_string(c.index) : e.argument();
    if (e.code() != "E_IO" || options_.on_corrupt == OnCorrupt::Fail) c.error = std::current_exception();
  } catch (...) {
    c.ok = false;
    c.error = std::current_exception();
  }
}

// Called with the mutex held.
void BatchLoader::finish(const Claim& c) {
  Pending& p = *c.pending;
  p.ok[c.slot] = c.ok;
  p.labels[c.slot] = c.label;
  if (!c.ok) p.corrupt[c.slot] = c.corrupt;
  if (c.error && (!p.error || c.slot < p.error_slot)) {
    p.error = c.error;
    p.error_slot = c.slot;
  }
  if (--p.remaining == 0) ready_cv_.notify_all();
}

// Called with the mutex held.
bool BatchLoader::ready(int64_t batch) const {
  auto it = pending_.find(batch);
  return it != pending_.end() && it->second->remaining == 0;
}

std::optional<Batch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_ && !stopping_) fail("E_CONFIG", "epoch", "call startEpoch(epoch) before next()");
  const uint64_t generation = generation_;
  std::vector<std::string> carried;  // skipped samples of batches that came out empty
  auto done = [&] { return stopping_ || generation_ != generation || consumed_ >= batches_per_epoch_; };
  while (!done()) {
    ready_cv_.wait(lock, [&] { return done() || ready(consumed_); });
    if (done()) break;
    const int64_t b = consumed_++;
    std::shared_ptr<Pending> pending = std::move(pending_[b]);
    pending_.erase(b);
    const int64_t epoch = epoch_;
    lock.unlock();
    work_cv_.notify_all();
    ready_cv_.notify_all();  // a concurrent next() waits for the batch after this one
    if (pending->error) std::rethrow_exception(pending->error);
    std::optional<Batch> batch = assemble(*pending, epoch, b, carried);
    if (batch) return batch;
    lock.lock();
  }
  return std::nullopt;
}

// The batch without its corrupt rows; nullopt (and `carried` grows) when none is left.
std::optional<Batch> BatchLoader::assemble(Pending& p, int64_t epoch, int64_t index,
                                           std::vector<std::string>& carried) const {
  const int64_t n = static_cast<int64_t>(p.ok.size());
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < n; ++i) {
    if (p.ok[i])
      kept.push_back(i);
    else
      carried.push_back(p.corrupt[i]);
  }
  if (kept.empty()) return std::nullopt;
  at::Tensor labels = at::empty({static_cast<int64_t>(kept.size())}, at::kLong);
  int64_t* l = labels.data_ptr<int64_t>();
  for (size_t j = 0; j < kept.size(); ++j) l[j] = p.labels[kept[j]];
  at::Tensor images = p.images.view({n, shape_.channels, shape_.height, shape_.width});
  if (static_cast<int64_t>(kept.size()) < n) images = images.index_select(0, at::tensor(kept, at::kLong));
  const int64_t skipped = static_cast<int64_t>(carried.size());
  return Batch{images, labels, skipped, std::move(carried), epoch, index};
}

}  // namespace mvface::data
