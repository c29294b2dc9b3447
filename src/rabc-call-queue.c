/* rabc-call-queue.c: the requests a client awaits replies to
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-call-queue-private.h"

void
rabc_call_queue_init (RabcCallQueue *queue)
{
  g_queue_init (&queue->calls);
}

/* Frees every call; their waiters must have been told already. */
void
rabc_call_queue_clear (RabcCallQueue *queue)
{
  RabcCall *call;

  while ((call = rabc_call_queue_pop (queue)) != NULL)
    rabc_call_free (call);
}

guint
rabc_call_queue_get_length (RabcCallQueue *queue)
{
  return queue->calls.length;
}

/* Appends a request just written; its reply comes after those of every
 * call already in the queue. */
RabcCall *
rabc_call_queue_push (RabcCallQueue *queue,
                      RabcCallKind   kind,
                      gpointer       waiter,
                      gint64         sent_time,
                      gint64         deadline)
{
  RabcCall *call = g_new0 (RabcCall, 1);

  call->kind = kind;
  call->waiter = waiter;
  call->sent_time = sent_time;
  call->deadline = deadline;
  call->link.data = call;
  g_queue_push_tail_link (&queue->calls, &call->link);
  return call;
}

/* Removes the oldest call, the one the next reply answers, and returns it
 * for the caller to free, or NULL when no call awaits a reply. */
RabcCall *
rabc_call_queue_pop (RabcCallQueue *queue)
{
  GList *link = g_queue_pop_head_link (&queue->calls);

  return link != NULL ? link->data : NULL;
}

/* The caller of @call stopped waiting: @call keeps its place, without a
 * waiter or a deadline, and its reply will be dropped. */
void
rabc_call_abandon (RabcCall *call)
{
  call->waiter = NULL;
  call->deadline = -1;
}

gboolean
rabc_call_is_abandoned (const RabcCall *call)
{
  return call->waiter == NULL;
}

/* The oldest call of one of @kinds (a mask of RABC_CALL_KIND_MASK()) that
 * is not abandoned and whose deadline is not after @now, or NULL. */
RabcCall *
rabc_call_queue_find_expired (RabcCallQueue *queue,
                              guint          kinds,
                              gint64         now)
{
  for (GList *l = queue->calls.head; l != NULL; l = l->next)
    {
      RabcCall *call = l->data;

      if ((kinds & RABC_CALL_KIND_MASK (call->kind)) && !rabc_call_is_abandoned (call) &&
          call->deadline >= 0 && call->deadline <= now)
        return call;
    }
  return NULL;
}

/* The earliest deadline of the calls of @kinds that are not abandoned, or
 * -1 when none has one. */
gint64
rabc_call_queue_get_next_deadline (RabcCallQueue *queue,
                                   guint          kinds)
{
  gint64 next = -1;

  for (GList *l = queue->calls.head; l != NULL; l = l->next)
    {
      RabcCall *call = l->data;

      if ((kinds & RABC_CALL_KIND_MASK (call->kind)) && !rabc_call_is_abandoned (call) &&
          call->deadline >= 0 && (next < 0 || call->deadline < next))
        next = call->deadline;
    }
  return next;
}

void
rabc_call_free (RabcCall *call)
{
  g_free (call);
}
