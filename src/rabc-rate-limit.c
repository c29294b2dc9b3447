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
  g_return_if_fail (interval > 0);
  g_return_if_fail (burst > 0 && burst <= RABC_RATE_LIMIT_MAX_BURST);

  self->interval = interval;
  self->burst = burst;
  self->n_allowed = 0;
  self->oldest = 0;
  self->n_suppressed = 0;
}

/*
 * rabc_rate_limit_allow:
 * @now: the time of the event, monotonic, in microseconds, never earlier
 *   than that of the event before
 * @suppressed: (out): when the event is let through, how many events were
 *   suppressed since the last one let through and not yet reported by
 *   rabc_rate_limit_take_suppressed()
 *
 * Counts one event.
 *
 * Returns: whether the event may be logged
 */
gboolean
rabc_rate_limit_allow (RabcRateLimit *self,
                       gint64         now,
                       guint         *suppressed)
{
  if (self->n_allowed < self->burst)
    {
      self->allowed[(self->oldest + self->n_allowed) % self->burst] = now;
      self->n_allowed++;
    }
  else if (now - self->allowed[self->oldest] >= self->interval)
    {
      /* The oldest of the last @burst leaves the window. */
      self->allowed[self->oldest] = now;
      self->oldest = (self->oldest + 1) % self->burst;
    }
  else
    {
      self->n_suppressed++;
      return FALSE;
    }

  *suppressed = rabc_rate_limit_take_suppressed (self);
  return TRUE;
}

/* Returns how many events were suppressed and not yet reported, and
 * forgets them: for a summary. */
guint
rabc_rate_limit_take_suppressed (RabcRateLimit *self)
{
  guint n = self->n_suppressed;

  self->n_suppressed = 0;
  return n;
}

/* The earliest time at which an event would be let through again, or
 * G_MININT64 when one would be now: the time to report what was
 * suppressed. */
gint64
rabc_rate_limit_get_next_allowed (const RabcRateLimit *self)
{
  if (self->n_allowed < self->burst)
    return G_MININT64;
  return self->allowed[self->oldest] + self->interval;
}
