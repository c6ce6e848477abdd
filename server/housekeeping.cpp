#include "server/housekeeping.h"

#include <algorithm>
#include <ctime>

#include "server/log.h"

namespace replicad {
namespace {

constexpr uint64_t kFirstRunMaxDelayMs = 60'000;

uint64_t seconds_of(std::chrono::milliseconds d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

Housekeeping::Housekeeping(uv_loop_t* loop, storage::Store& store, std::chrono::milliseconds deleted_expire,
                           std::chrono::milliseconds period)
    : expiry_(store, seconds_of(deleted_expire)),
      enabled_(deleted_expire.count() > 0),
      period_ms_(static_cast<uint64_t>(std::max<int64_t>(period.count(), 1))) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
}

Housekeeping::~Housekeeping() = default;

void Housekeeping::start() {
  if (!enabled_ || started_ || stopped_) return;
  started_ = true;
  log::info("deleted_expire: removing DELETED.* mailboxes older than {}s, checked every {:g}s", expiry_.max_age(),
            static_cast<double>(period_ms_) / 1000);
  uv_timer_start(&timer_, &Housekeeping::on_timer, std::min(period_ms_, kFirstRunMaxDelayMs), period_ms_);
}

void Housekeeping::stop() {
  if (stopped_) return;
  stopped_ = true;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void Housekeeping::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<Housekeeping*>(timer->data);
  // Skipped by DeletedExpiry itself while the previous run is in flight.
  self->expiry_.run(static_cast<uint64_t>(std::time(nullptr)));
}

}  // namespace replicad
