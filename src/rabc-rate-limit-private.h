/* rabc-rate-limit-private.h: how often a kind of log message may appear
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define RABC_RATE_LIMIT_MAX_BURST 32

/* At most @burst events in any @interval microseconds are let through:
 * the times of the last @burst that were are kept, and an event is let
 * through when the oldest of them is at least @interval old.  The others
 * are counted, for a summary.  Pure: the caller says what time it is. */
typedef struct {
  gint64 interval;
  guint  burst;
  gint64 allowed[RABC_RATE_LIMIT_MAX_BURST];
  guint  n_allowed;
  guint  oldest;
  guint  n_suppressed;
} RabcRateLimit;

void     rabc_rate_limit_init            (RabcRateLimit *self,
                                          gint64         interval,
                                          guint          burst);
gboolean rabc_rate_limit_allow           (RabcRateLimit *self,
                                          gint64         now,
                                          guint         *suppressed);
guint    rabc_rate_limit_take_suppressed (RabcRateLimit *self);
gint64   rabc_rate_limit_get_next_allowed (const RabcRateLimit *self);

G_END_DECLS
