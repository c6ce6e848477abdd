// Periodic housekeeping on the event loop: the work a replica does that the
// master never asks for.  Today that is the expiry of delayed-delete
// mailboxes (protocol/deleted_expiry.h), run every `deleted_expire_period`;
// its removals go through the store's writer like any APPLY.
#pragma once

#include <uv.h>

#include <chrono>

#include "protocol/deleted_expiry.h"
#include "storage/store.h"

namespace replicad {

class Housekeeping {
 public:
  // `deleted_expire` zero: nothing is ever expired (and no timer runs).
  Housekeeping(uv_loop_t* loop, storage::Store& store, std::chrono::milliseconds deleted_expire,
               std::chrono::milliseconds period);
  ~Housekeeping();
  Housekeeping(const Housekeeping&) = delete;
  Housekeeping& operator=(const Housekeeping&) = delete;

  // The first run comes soon after the start (within a minute), then one a period.
  void start();
  // No run starts after this; one in flight completes through the store.
  // Closes the timer (the loop must run once more to finish closing).
  void stop();

 private:
  static void on_timer(uv_timer_t* timer);

  protocol::DeletedExpiry expiry_;
  bool enabled_;
  uint64_t period_ms_;
  uv_timer_t timer_{};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace replicad
