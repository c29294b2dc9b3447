/* rabc-single-wait.c: a main context that waits in an epoll set
 *
 * A GLib main loop waits for its sources in poll().  A server that watches
 * its clients through an epoll descriptor is one such source: poll() says
 * that the descriptor is readable, and the server's dispatch asks
 * epoll_wait() which clients are ready, two system calls for every
 * wake-up.  A program that runs the context itself (rabcd) can have it
 * wait once instead, with this poll function
 * (g_main_context_set_poll_func()):
 *
 * - The descriptors that the context holds when the wait is made, besides
 *   the epoll descriptor, join the epoll set, tagged so that their events
 *   are told apart from the owner's.  They are meant to be GLib's own
 *   wake-up descriptor, which lives as long as the context and is what
 *   g_main_context_wakeup() from other threads, g_unix_signal_add()
 *   handlers and sources attached from other threads signal.
 * - A poll of the context that asks for the epoll descriptor to be
 *   readable, and for exactly those other descriptors with the conditions
 *   they had, becomes one epoll_wait() with the timeout GLib computed from
 *   its sources' ready times.  The events of GLib's descriptors go back to
 *   it as revents; the others are kept, and the epoll descriptor is
 *   reported readable when there are any.  The owner's dispatch takes them
 *   (rabc_single_wait_take()) instead of calling epoll_wait() again.  An
 *   interrupted wait returns -1 with errno EINTR, as poll() does.
 * - Any other poll (a descriptor added since, or the epoll descriptor not
 *   asked for, as in a nested main loop run from the owner's own dispatch)
 *   is an ordinary g_poll(), and the owner's dispatch then asks
 *   epoll_wait() itself, skipping GLib's descriptors.  One of the first
 *   descriptors that the context polls for other conditions, or no longer
 *   polls beside the epoll descriptor, leaves the epoll set for good, so
 *   that the epoll descriptor is never readable for a descriptor that
 *   nobody reads; GLib polls it on its own from then on.
 * - After its dispatch has handled what the wait got, the owner may wait
 *   in the epoll set again itself (rabc_single_wait_again()), without
 *   going back through GLib's iteration, as long as GLib can have nothing
 *   to do: the last poll was the single wait, none of GLib's descriptors
 *   was ready in it, and the timeout GLib computed for it has not run
 *   out.  That wait ends before GLib's would have, leaving GLib's own
 *   poll the last millisecond, and as soon as one of GLib's descriptors is
 *   ready; the owner then returns to GLib, which finds that descriptor
 *   still ready (the set is level-triggered).  Whatever changes GLib's
 *   sources from another thread signals the wake-up descriptor.  What GLib
 *   may not be told of (a source attached from this thread without
 *   descriptors, a ready time moved from it) comes from application code
 *   or from the owner itself, which returns to GLib whenever either ran.
 *   A source ready by its check() alone, with no descriptor and no ready
 *   time, is dispatched once the owner returns; rabcd has none.
 * - The kept events tell what was ready at the time of the wait.  Sources
 *   dispatched before the owner's may change that (drop a client, stop
 *   reading from it), so the owner calls rabc_single_wait_forget()
 *   whenever it changes its epoll set, and its next take asks the kernel
 *   again.  The set is level-triggered: forgetting loses nothing.
 *
 * A poll function gets no user data: there is one wait per process.
 * Descriptors are known by number, which is why only those present at the
 * start, GLib's own, are waited on this way.
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "rabc-single-wait-private.h"

#define MAX_PINNED 8

typedef struct {
  /* -1 once it left the epoll set. */
  int      fd;
  gushort  events;
  /* Its index in the polls that are the single wait. */
  int      index;
} Pinned;

struct _RabcSingleWait {
  GMainContext       *context;
  int                 epoll_fd;
  Pinned              pinned[MAX_PINNED];
  guint               n_pinned;
  /* The descriptors and conditions of the last poll that was the single
   * wait (revents unused), and the epoll descriptor's index in it. */
  GPollFD             layout[MAX_PINNED + 1];
  guint               n_layout;
  guint               owner_index;
  guint               max_events;
  /* What the last wait got for the owner, at the start of @events, or -1
   * when the owner has to ask epoll_wait() itself. */
  int                 n_ready;
  /* Whether the owner may wait again (rabc_single_wait_again()), and
   * until when, in monotonic time (-1: for as long as it takes). */
  gboolean            may_wait_again;
  gint64              deadline;
  /* max_events + MAX_PINNED: room for the owner's and GLib's together. */
  struct epoll_event *events;
};

static RabcSingleWait *single_wait;

static guint32
epoll_events_from_condition (gushort condition)
{
  return ((condition & G_IO_IN) ? EPOLLIN : 0) |
         ((condition & G_IO_OUT) ? EPOLLOUT : 0) |
         ((condition & G_IO_PRI) ? EPOLLPRI : 0);
}

static gushort
condition_from_epoll_events (guint32 events)
{
  return ((events & EPOLLIN) ? G_IO_IN : 0) |
         ((events & EPOLLOUT) ? G_IO_OUT : 0) |
         ((events & EPOLLPRI) ? G_IO_PRI : 0) |
         ((events & EPOLLERR) ? G_IO_ERR : 0) |
         ((events & EPOLLHUP) ? G_IO_HUP : 0);
}

/* The descriptor of GLib's that an event is for, or NULL: the owner's. */
static Pinned *
pinned_of_event (RabcSingleWait           *self,
                 const struct epoll_event *event)
{
  uintptr_t ptr = (uintptr_t) event->data.ptr;
  uintptr_t start = (uintptr_t) self->pinned;

  if (ptr < start || ptr >= start + sizeof self->pinned)
    return NULL;
  return (Pinned *) event->data.ptr;
}

/* Waits for the owner's descriptors and GLib's together, into @events. */
static int
wait_in_set (RabcSingleWait *self,
             int             timeout)
{
  return epoll_wait (self->epoll_fd, self->events, self->max_events + MAX_PINNED, timeout);
}

static void
unpin (RabcSingleWait *self,
       Pinned         *pinned)
{
  epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, pinned->fd, NULL);
  pinned->fd = -1;
  pinned->index = -1;
  self->n_layout = 0;
}

/* Whether this poll can be the single wait: the epoll descriptor asked
 * for reading, and besides it exactly GLib's descriptors, as they were.
 * Leaves the index of each of those in @ufds in its Pinned, and takes
 * out of the epoll set those that GLib polls for other conditions or no
 * longer polls beside it. */
static gboolean
check_poll (RabcSingleWait *self,
            GPollFD        *ufds,
            guint           n_ufds)
{
  gboolean alone = TRUE, has_owner = FALSE;

  for (guint j = 0; j < self->n_pinned; j++)
    self->pinned[j].index = -1;

  for (guint i = 0; i < n_ufds; i++)
    {
      Pinned *pinned = NULL;

      if (ufds[i].fd == self->epoll_fd)
        {
          has_owner = ufds[i].events == G_IO_IN;
          self->owner_index = i;
          continue;
        }

      for (guint j = 0; j < self->n_pinned && pinned == NULL; j++)
        if (self->pinned[j].fd == ufds[i].fd)
          pinned = &self->pinned[j];

      if (pinned == NULL)
        alone = FALSE;
      else if (pinned->events != ufds[i].events)
        {
          unpin (self, pinned);
          alone = FALSE;
        }
      else
        pinned->index = i;
    }

  if (!has_owner)
    return FALSE;

  for (guint j = 0; j < self->n_pinned; j++)
    if (self->pinned[j].fd >= 0 && self->pinned[j].index < 0)
      {
        unpin (self, &self->pinned[j]);
        alone = FALSE;
      }

  return alone;
}

/* Whether @ufds is the same as the last single wait's, which check_poll()
 * accepted: the usual case, checked without looking anything up. */
static gboolean
same_poll (RabcSingleWait *self,
           const GPollFD  *ufds,
           guint           n_ufds)
{
  if (n_ufds != self->n_layout)
    return FALSE;
  for (guint i = 0; i < n_ufds; i++)
    if (ufds[i].fd != self->layout[i].fd || ufds[i].events != self->layout[i].events)
      return FALSE;
  return TRUE;
}

static gint
single_wait_poll (GPollFD *ufds,
                  guint    n_ufds,
                  gint     timeout)
{
  RabcSingleWait *self = single_wait;
  int n, n_owner = 0, n_revents = 0;

  if (self == NULL)
    return g_poll (ufds, n_ufds, timeout);

  self->n_ready = -1;
  self->may_wait_again = FALSE;
  if (!same_poll (self, ufds, n_ufds))
    {
      self->n_layout = 0;
      if (n_ufds > G_N_ELEMENTS (self->layout) || !check_poll (self, ufds, n_ufds))
        return g_poll (ufds, n_ufds, timeout);
      for (guint i = 0; i < n_ufds; i++)
        self->layout[i] = (GPollFD) { .fd = ufds[i].fd, .events = ufds[i].events };
      self->n_layout = n_ufds;
    }

  /* GLib's timeout counts from about now: it computed it just before. */
  self->deadline = timeout > 0 ? g_get_monotonic_time () + timeout * G_TIME_SPAN_MILLISECOND : -1;
  n = wait_in_set (self, timeout);
  if (n < 0)
    return -1;

  for (int i = 0; i < n; i++)
    {
      Pinned *pinned = pinned_of_event (self, &self->events[i]);

      if (pinned != NULL)
        {
          GPollFD *ufd = &ufds[pinned->index];

          if (ufd->revents == 0)
            n_revents++;
          ufd->revents |= condition_from_epoll_events (self->events[i].events) &
                          (ufd->events | G_IO_ERR | G_IO_HUP);
        }
      else if (n_owner < (int) self->max_events)
        self->events[n_owner++] = self->events[i];
    }

  self->n_ready = n_owner;
  self->may_wait_again = n_revents == 0 && timeout != 0;
  if (n_owner > 0)
    {
      ufds[self->owner_index].revents = G_IO_IN;
      n_revents++;
    }
  return n_revents;
}

/* Makes @context wait in @epoll_fd, whose owner takes at most @max_events
 * at a time, until rabc_single_wait_free().  In the thread that runs
 * @context, outside its dispatch.
 *
 * Returns: (nullable): the wait, or NULL when the process already has one,
 *   or the context's descriptors cannot join the epoll set (then nothing
 *   changed) */
RabcSingleWait *
rabc_single_wait_new (GMainContext *context,
                      int           epoll_fd,
                      guint         max_events)
{
  GPollFD fds[MAX_PINNED + 1];
  RabcSingleWait *self;
  int n_fds;

  g_return_val_if_fail (context != NULL, NULL);
  g_return_val_if_fail (epoll_fd >= 0, NULL);
  g_return_val_if_fail (max_events > 0, NULL);

  if (single_wait != NULL)
    return NULL;

  n_fds = g_main_context_query (context, G_MAXINT, NULL, fds, G_N_ELEMENTS (fds));
  if (n_fds > (int) G_N_ELEMENTS (fds))
    return NULL;

  self = g_new0 (RabcSingleWait, 1);
  self->epoll_fd = epoll_fd;
  self->max_events = max_events;
  self->n_ready = -1;

  for (int i = 0; i < n_fds; i++)
    {
      Pinned *pinned = &self->pinned[self->n_pinned];
      struct epoll_event event = {
        .events = epoll_events_from_condition (fds[i].events),
        .data.ptr = pinned,
      };

      if (fds[i].fd == epoll_fd)
        continue;

      if (epoll_ctl (epoll_fd, EPOLL_CTL_ADD, fds[i].fd, &event) < 0)
        {
          g_debug ("cannot wait for descriptor %d in the epoll set: %s",
                   fds[i].fd, g_strerror (errno));
          self->context = g_main_context_ref (context);
          rabc_single_wait_free (self);
          return NULL;
        }
      pinned->fd = fds[i].fd;
      pinned->events = fds[i].events;
      self->n_pinned++;
    }

  self->events = g_new (struct epoll_event, max_events + MAX_PINNED);
  self->context = g_main_context_ref (context);
  single_wait = self;
  g_main_context_set_poll_func (context, single_wait_poll);
  return self;
}

/* Gives @context back its ordinary poll, before the epoll descriptor is
 * closed. */
void
rabc_single_wait_free (RabcSingleWait *self)
{
  if (self == NULL)
    return;

  for (guint j = 0; j < self->n_pinned; j++)
    if (self->pinned[j].fd >= 0)
      unpin (self, &self->pinned[j]);

  if (single_wait == self)
    {
      g_main_context_set_poll_func (self->context, NULL);
      single_wait = NULL;
    }
  g_main_context_unref (self->context);
  g_free (self->events);
  g_free (self);
}

int
rabc_single_wait_take (RabcSingleWait     *self,
                       struct epoll_event *events,
                       int                 max_events)
{
  int n, n_owner = 0;

  if (self->n_ready >= 0)
    {
      n = MIN (self->n_ready, max_events);
      memcpy (events, self->events, n * sizeof *events);
      self->n_ready = -1;
      return n;
    }

  do
    n = wait_in_set (self, 0);
  while (n < 0 && errno == EINTR);

  for (int i = 0; i < n; i++)
    if (pinned_of_event (self, &self->events[i]) == NULL && n_owner < max_events)
      events[n_owner++] = self->events[i];
  return n < 0 ? n : n_owner;
}

int
rabc_single_wait_again (RabcSingleWait     *self,
                        struct epoll_event *events,
                        int                 max_events)
{
  int timeout = -1;
  int n, n_owner = 0;

  /* What the last wait kept is the owner's already. */
  self->n_ready = -1;
  if (!self->may_wait_again)
    return 0;
  if (self->deadline >= 0)
    {
      /* Rounded down: never past GLib's deadline, whose last millisecond
       * is GLib's own poll's. */
      timeout = (int) ((self->deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND);
      if (timeout <= 0)
        return 0;
    }

  n = wait_in_set (self, timeout);
  /* Timed out, or interrupted: GLib's turn. */
  if (n <= 0)
    return 0;

  for (int i = 0; i < n; i++)
    {
      if (pinned_of_event (self, &self->events[i]) != NULL)
        {
          /* GLib's turn; the owner's events stay ready for its poll. */
          self->may_wait_again = FALSE;
          return 0;
        }
      if (n_owner < max_events)
        events[n_owner++] = self->events[i];
    }
  return n_owner;
}

void
rabc_single_wait_forget (RabcSingleWait *self)
{
  if (self != NULL)
    self->n_ready = -1;
}
