/* rabc-rate-limit-private.h: how often a kind of log message may appear
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* At most @burst events per window of @interval microseconds are let
 * through; the others are counted, for a summary.  Pure: the caller says
 * what time it is. */
typedef struct {
  gint64 interval;
  guint  burst;
  gint64 window_start;
  guint  n_allowed;
  guint  n_suppressed;
} RabcRateLimit;

void     rabc_rate_limit_init            (RabcRateLimit *self,
                                          gint64         interval,
                                          guint          burst);
gboolean rabc_rate_limit_allow           (RabcRateLimit *self,
                                          gint64         now,
                                          guint         *suppressed);
guint    rabc_rate_limit_take_suppressed (RabcRateLimit *self);
gint64   rabc_rate_limit_get_window_end  (const RabcRateLimit *self);

G_END_DECLS
