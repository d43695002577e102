/* Timer heap and the loop's teardown helpers (internal). */
#ifndef AXON_LOOP_TIMER_H
#define AXON_LOOP_TIMER_H

#include "loop/backend.h"

/* Milliseconds until the earliest timer is due (0 if overdue), -1 if none. */
int ax__timer_next(const ax_loop *loop);
/* Runs the timers due at loop->now that were armed before this pass. */
void ax__timer_run(ax_loop *loop);
void ax__timer_free_all(ax_loop *loop);
void ax__signal_free_all(ax_loop *loop);
void ax__watch_free_all(ax_loop *loop);

#endif
