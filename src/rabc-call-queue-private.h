/* rabc-call-queue-private.h: the requests a client awaits replies to
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The daemon answers every message in order, so each reply answers the
 * oldest request still in the queue.  A request whose caller stopped
 * waiting (a timeout, a cancellation) keeps its place, abandoned, so that
 * its reply, if one still comes, is matched to it and dropped.  The queue
 * holds no lock: its owner serializes every call. */

typedef enum {
  RABC_CALL_PING,
  RABC_CALL_TASK,
  RABC_CALL_SYNC,
} RabcCallKind;

#define RABC_CALL_KIND_MASK(kind) (1u << (kind))

typedef struct {
  RabcCallKind kind;
  /* Whoever waits for the reply (a GTask, a synchronous wait), or NULL
   * once the call is abandoned. */
  gpointer     waiter;
  gint64       sent_time;
  /* When the call times out, in monotonic time, or -1 for never. */
  gint64       deadline;
  GList        link;
} RabcCall;

typedef struct {
  GQueue calls;
} RabcCallQueue;

void      rabc_call_queue_init              (RabcCallQueue *queue);
void      rabc_call_queue_clear             (RabcCallQueue *queue);
guint     rabc_call_queue_get_length        (RabcCallQueue *queue);

RabcCall *rabc_call_queue_push              (RabcCallQueue *queue,
                                             RabcCallKind   kind,
                                             gpointer       waiter,
                                             gint64         sent_time,
                                             gint64         deadline);
RabcCall *rabc_call_queue_pop               (RabcCallQueue *queue);
void      rabc_call_abandon                 (RabcCall      *call);
gboolean  rabc_call_is_abandoned            (const RabcCall *call);
RabcCall *rabc_call_queue_find_expired      (RabcCallQueue *queue,
                                             guint          kinds,
                                             gint64         now);
gint64    rabc_call_queue_get_next_deadline (RabcCallQueue *queue,
                                             guint          kinds);

void      rabc_call_free                    (RabcCall      *call);

G_END_DECLS
