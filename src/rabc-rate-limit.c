/* rabc-rate-limit.c: how often a kind of log message may appear
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-rate-limit-private.h"

void
rabc_rate_limit_init (RabcRateLimit *self,
                      gint64         interval,
                      guint          burst)
{
  g_return_if_fail (interval > 0 && burst > 0);

  self->interval = interval;
  self->burst = burst;
  self->window_start = G_MININT64;
  self->n_allowed = 0;
  self->n_suppressed = 0;
}

/*
 * rabc_rate_limit_allow:
 * @now: the time of the event, monotonic, in microseconds
 * @suppressed: (out): when the event is let through, how many events were
 *   suppressed since the last one let through and not yet reported by
 *   rabc_rate_limit_take_suppressed()
 *
 * Counts one event.  A window opens at the first event after the last
 * window ended and lets @burst events through.
 *
 * Returns: whether the event may be logged
 */
gboolean
rabc_rate_limit_allow (RabcRateLimit *self,
                       gint64         now,
                       guint         *suppressed)
{
  if (self->window_start == G_MININT64 || now - self->window_start >= self->interval)
    {
      self->window_start = now;
      self->n_allowed = 0;
    }

  if (self->n_allowed >= self->burst)
    {
      self->n_suppressed++;
      return FALSE;
    }

  self->n_allowed++;
  *suppressed = rabc_rate_limit_take_suppressed (self);
  return TRUE;
}

/* Returns how many events were suppressed and not yet reported, and
 * forgets them: for a summary once a window is over. */
guint
rabc_rate_limit_take_suppressed (RabcRateLimit *self)
{
  guint n = self->n_suppressed;

  self->n_suppressed = 0;
  return n;
}

/* When the current window ends: the time to report what it suppressed. */
gint64
rabc_rate_limit_get_window_end (const RabcRateLimit *self)
{
  return self->window_start == G_MININT64 ? G_MININT64 : self->window_start + self->interval;
}
