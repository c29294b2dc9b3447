/* rabc-fd-source.c: a GSource watching one file descriptor
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-fd-source-private.h"

/* GLib blocks a source that cannot recurse for the length of each dispatch,
 * which takes its descriptors out of the context and puts them back, waking
 * the context twice per dispatch.  This source may recurse instead, and
 * guards itself: dispatched again from a nested main loop, it stops
 * watching until the outer dispatch is over, so that reads never reorder. */
typedef struct {
  GSource      source;
  gpointer     tag;
  GIOCondition events;
  gboolean     dispatching;
  gboolean     blocked;
} FdSource;

static gboolean
fd_source_dispatch (GSource     *source,
                    GSourceFunc  callback,
                    gpointer     user_data)
{
  FdSource *self = (FdSource *) source;
  GIOCondition condition;
  gboolean result;

  if (callback == NULL)
    return G_SOURCE_REMOVE;

  if (self->dispatching)
    {
      if (!self->blocked)
        {
          self->blocked = TRUE;
          g_source_modify_unix_fd (source, self->tag, 0);
        }
      return G_SOURCE_CONTINUE;
    }

  condition = g_source_query_unix_fd (source, self->tag);
  self->dispatching = TRUE;
  result = ((RabcFdSourceFunc) (void (*) (void)) callback) (condition, user_data);
  self->dispatching = FALSE;

  if (self->blocked)
    {
      self->blocked = FALSE;
      if (!g_source_is_destroyed (source))
        g_source_modify_unix_fd (source, self->tag, self->events);
    }

  return result;
}

static GSourceFuncs fd_source_funcs = {
  .dispatch = fd_source_dispatch,
};

GSource *
rabc_fd_source_new (int          fd,
                    GIOCondition events)
{
  GSource *source = g_source_new (&fd_source_funcs, sizeof (FdSource));
  FdSource *self = (FdSource *) source;

  self->events = events;
  self->tag = g_source_add_unix_fd (source, fd, events);
  g_source_set_can_recurse (source, TRUE);
  g_source_set_static_name (source, "[rabc] socket");
  return source;
}

void
rabc_fd_source_set_events (GSource      *source,
                           GIOCondition  events)
{
  FdSource *self = (FdSource *) source;

  self->events = events;
  if (!self->blocked)
    g_source_modify_unix_fd (source, self->tag, events);
}

/* The conditions last asked for, whether or not the source watches them
 * while it is blocked in a nested dispatch. */
GIOCondition
rabc_fd_source_get_events (GSource *source)
{
  return ((FdSource *) source)->events;
}

void
rabc_clear_source (GSource **source)
{
  if (*source == NULL)
    return;

  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}
