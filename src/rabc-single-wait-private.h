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
/* Called from the owner's dispatch, after it handled what the wait got,
 * and only when neither application code nor the owner changed the
 * context's sources since: waits in the epoll set again, at most until
 * GLib's timeout for the last wait runs out, and fills @events with the
 * owner's events.  Returns their number, or 0 when the owner has to
 * return to GLib: at once when the last poll was not the single wait,
 * GLib had a descriptor ready in it or its timeout ran out, and after
 * waiting when the time ran out, the wait was interrupted or one of
 * GLib's descriptors became ready. */
int             rabc_single_wait_again          (RabcSingleWait            *self,
                                                 struct epoll_event        *events,
                                                 int                        max_events);
/* Drops the events the wait got, which may no longer hold: to be called
 * whenever the owner changes what its epoll set watches.  @self may be
 * NULL. */
void            rabc_single_wait_forget         (RabcSingleWait            *self);

G_END_DECLS
