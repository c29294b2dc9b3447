/* rabc-reply-queue-private.h: the replies a server owes one connection
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A client matches each reply to its oldest request still waiting, so a
 * server must answer one connection's requests in the order they came,
 * whatever the order the application answers them in.  Each request gets
 * a slot at the back when it arrives, known by its sequence number; slots
 * are answered in any order, with a reply or with the owner's default
 * (NULL), and replies leave from the front only, each once every request
 * before it is answered.  Pure bookkeeping: no I/O, no lock, no policy. */

typedef struct {
  /* The answer, or NULL for the owner's default reply. */
  GBytes  *reply;
  gsize    request_size;
  gboolean answered;
  /* The application took the request, to answer it itself. */
  gboolean taken;
} RabcReplySlot;

typedef struct {
  /* The slots from @head on are waiting; those before it are spent. */
  GArray  *slots;
  guint    head;
  guint64  head_seq;
  /* Slots taken and not answered yet. */
  guint    n_taken;
  /* Bytes held: requests not answered and replies not popped. */
  gsize    held;
} RabcReplyQueue;

void     rabc_reply_queue_init        (RabcReplyQueue *self);
void     rabc_reply_queue_clear       (RabcReplyQueue *self);

guint    rabc_reply_queue_get_length  (const RabcReplyQueue *self);
guint    rabc_reply_queue_get_n_taken (const RabcReplyQueue *self);
gsize    rabc_reply_queue_get_held    (const RabcReplyQueue *self);
gboolean rabc_reply_queue_is_front    (const RabcReplyQueue *self,
                                       guint64         seq);
guint64  rabc_reply_queue_get_next_seq (const RabcReplyQueue *self);

guint64  rabc_reply_queue_push        (RabcReplyQueue *self,
                                       gsize           request_size);
gboolean rabc_reply_queue_take        (RabcReplyQueue *self,
                                       guint64         seq);
gboolean rabc_reply_queue_answer      (RabcReplyQueue *self,
                                       guint64         seq,
                                       GBytes         *reply);
gboolean rabc_reply_queue_pop         (RabcReplyQueue *self,
                                       GBytes        **reply);

G_END_DECLS
