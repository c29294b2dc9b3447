/* rabc-reply-queue.c: the replies a server owes one connection
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-reply-queue-private.h"

/* Spent slots are dropped from the front of the array once they are this
 * many and the larger part of it. */
#define COMPACT_MIN 32

void
rabc_reply_queue_init (RabcReplyQueue *self)
{
  self->slots = NULL;
  self->head = 0;
  self->head_seq = 0;
  self->n_taken = 0;
  self->held = 0;
}

void
rabc_reply_queue_clear (RabcReplyQueue *self)
{
  /* Spent slots hold no reply: only those waiting need clearing, so the
   * array has no clear function to call on every pop. */
  for (guint i = self->head; self->slots != NULL && i < self->slots->len; i++)
    g_clear_pointer (&g_array_index (self->slots, RabcReplySlot, i).reply, g_bytes_unref);
  /* Sequence numbers are never given twice, even after a clear. */
  self->head_seq += rabc_reply_queue_get_length (self);
  g_clear_pointer (&self->slots, g_array_unref);
  self->head = 0;
  self->n_taken = 0;
  self->held = 0;
}

guint
rabc_reply_queue_get_length (const RabcReplyQueue *self)
{
  return self->slots != NULL ? self->slots->len - self->head : 0;
}

/* The requests taken by the application and not answered yet. */
guint
rabc_reply_queue_get_n_taken (const RabcReplyQueue *self)
{
  return self->n_taken;
}

/* The bytes of the requests not answered and of the replies waiting. */
gsize
rabc_reply_queue_get_held (const RabcReplyQueue *self)
{
  return self->held;
}

static RabcReplySlot *
find_slot (const RabcReplyQueue *self,
           guint64               seq)
{
  if (seq < self->head_seq || seq - self->head_seq >= rabc_reply_queue_get_length (self))
    return NULL;
  return &g_array_index (self->slots, RabcReplySlot, self->head + (seq - self->head_seq));
}

/* Whether @seq is the oldest request waiting, whose reply goes out next. */
gboolean
rabc_reply_queue_is_front (const RabcReplyQueue *self,
                           guint64               seq)
{
  return rabc_reply_queue_get_length (self) > 0 && seq == self->head_seq;
}

/* The sequence number the next rabc_reply_queue_push() gives. */
guint64
rabc_reply_queue_get_next_seq (const RabcReplyQueue *self)
{
  return self->head_seq + rabc_reply_queue_get_length (self);
}

/* Adds a slot for a request of @request_size bytes that just arrived.
 *
 * Returns: its sequence number */
guint64
rabc_reply_queue_push (RabcReplyQueue *self,
                       gsize           request_size)
{
  RabcReplySlot slot = { .request_size = request_size };

  if (self->slots == NULL)
    self->slots = g_array_new (FALSE, FALSE, sizeof (RabcReplySlot));
  g_array_append_val (self->slots, slot);
  self->held += request_size;
  return rabc_reply_queue_get_next_seq (self) - 1;
}

/* Marks the request @seq as taken by the application, which is to answer
 * it: it counts in rabc_reply_queue_get_n_taken() until answered.
 *
 * Returns: FALSE when there is no such request waiting, or it is answered */
gboolean
rabc_reply_queue_take (RabcReplyQueue *self,
                       guint64         seq)
{
  RabcReplySlot *slot = find_slot (self, seq);

  if (slot == NULL || slot->answered || slot->taken)
    return FALSE;
  slot->taken = TRUE;
  self->n_taken++;
  return TRUE;
}

/* Answers the request @seq with @reply, or with the owner's default when
 * @reply is NULL.
 *
 * Returns: FALSE when there is no such request waiting, or it is answered
 *   already */
gboolean
rabc_reply_queue_answer (RabcReplyQueue *self,
                         guint64         seq,
                         GBytes         *reply)
{
  RabcReplySlot *slot = find_slot (self, seq);

  if (slot == NULL || slot->answered)
    return FALSE;

  slot->answered = TRUE;
  if (slot->taken)
    self->n_taken--;
  self->held -= slot->request_size;
  if (reply != NULL)
    {
      slot->reply = g_bytes_ref (reply);
      self->held += g_bytes_get_size (reply);
    }
  return TRUE;
}

/* Removes the front slot when it is answered, giving its reply (NULL for
 * the default) to the caller.
 *
 * Returns: FALSE when the queue is empty or the front is not answered */
gboolean
rabc_reply_queue_pop (RabcReplyQueue  *self,
                      GBytes         **reply)
{
  RabcReplySlot *slot;

  if (rabc_reply_queue_get_length (self) == 0)
    return FALSE;

  slot = &g_array_index (self->slots, RabcReplySlot, self->head);
  if (!slot->answered)
    return FALSE;

  *reply = g_steal_pointer (&slot->reply);
  if (*reply != NULL)
    self->held -= g_bytes_get_size (*reply);
  self->head++;
  self->head_seq++;

  if (self->head == self->slots->len)
    {
      g_array_set_size (self->slots, 0);
      self->head = 0;
    }
  else if (self->head >= COMPACT_MIN && self->head >= self->slots->len / 2)
    {
      g_array_remove_range (self->slots, 0, self->head);
      self->head = 0;
    }
  return TRUE;
}
