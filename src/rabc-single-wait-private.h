/* rabc-single-wait-private.h: a main context that waits in an epoll set
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>
#include <sys/epoll.h>

G_BEGIN_DECLS

/* The single wait: a main context that waits in an epoll set, and hands
 * the events it gets to the set's owner (see rabc-single-wait.c).  One per
 * process, made and freed in the thread that runs @context. */
typedef struct _RabcSingleWait RabcSingleWait;

RabcSingleWait *rabc_single_wait_new            (GMainContext              *context,
                                                 int                        epoll_fd,
                                                 guint                      max_events);
void            rabc_single_wait_free           (RabcSingleWait            *self);
/* Fills @events with the epoll set's events: those the wait got, or, when
 * it got none for its owner or they were forgotten, those ready now. */
int             rabc_single_wait_take           (RabcSingleWait            *self,
                                                 struct epoll_event        *events,
                                                 int                        max_events);
/* After the owner's dispatch handled what the wait got: waits in the epoll
 * set again, until GLib's timeout for the last wait runs out or one of
 * GLib's descriptors is ready, and fills @events with the owner's events.
 * Returns 0 at once when the owner has to return to GLib: the last poll
 * was not the single wait, GLib had a descriptor ready or a timeout that
 * ran out.  Only when no application code ran since that wait. */
int             rabc_single_wait_again          (RabcSingleWait            *self,
                                                 struct epoll_event        *events,
                                                 int                        max_events);
/* Drops the events the wait got, which may no longer hold: to be called
 * whenever the owner changes what its epoll set watches.  @self may be
 * NULL. */
void            rabc_single_wait_forget         (RabcSingleWait            *self);

G_END_DECLS
