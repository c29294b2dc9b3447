/* rabc-peer-table.c: what a server's peers are and what they hold
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-peer-table-private.h"

struct _RabcPeerUser {
  uid_t  uid;
  gsize  allocated;
  GQueue peers;
};

void
rabc_peer_table_init (RabcPeerTable *self)
{
  self->users = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->n_peers = 0;
  self->allocated = 0;
  g_queue_init (&self->mid_frame);
}

/* The entries themselves belong to the caller, which removes them first. */
void
rabc_peer_table_clear (RabcPeerTable *self)
{
  g_warn_if_fail (self->n_peers == 0);
  g_clear_pointer (&self->users, g_hash_table_unref);
}

/* How many peers the user @uid has. */
guint
rabc_peer_table_count_user (RabcPeerTable *self,
                            uid_t          uid)
{
  RabcPeerUser *user = g_hash_table_lookup (self->users, GUINT_TO_POINTER (uid));

  return user != NULL ? user->peers.length : 0;
}

/* Whether @entry is in a table: added and not removed since. */
gboolean
rabc_peer_table_contains (const RabcPeerEntry *entry)
{
  return entry->user != NULL;
}

/* Every peer, in no particular order: a snapshot to go through while
 * peers are removed. */
GPtrArray *
rabc_peer_table_list (RabcPeerTable *self)
{
  GPtrArray *entries = g_ptr_array_sized_new (self->n_peers);
  GHashTableIter iter;
  RabcPeerUser *user;

  g_hash_table_iter_init (&iter, self->users);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &user))
    for (GList *l = user->peers.head; l != NULL; l = l->next)
      g_ptr_array_add (entries, l->data);
  return entries;
}

void
rabc_peer_table_add (RabcPeerTable *self,
                     RabcPeerEntry *entry,
                     gint64         now)
{
  RabcPeerUser *user = g_hash_table_lookup (self->users, GUINT_TO_POINTER (entry->uid));

  if (user == NULL)
    {
      user = g_new0 (RabcPeerUser, 1);
      user->uid = entry->uid;
      g_hash_table_insert (self->users, GUINT_TO_POINTER (entry->uid), user);
    }

  entry->user = user;
  entry->user_link.data = entry;
  g_queue_push_tail_link (&user->peers, &entry->user_link);
  entry->allocated = 0;
  entry->bytes_moved = 0;
  entry->last_progress = now;
  entry->mid_frame = FALSE;
  entry->mid_frame_link.data = entry;
  self->n_peers++;
}

void
rabc_peer_table_remove (RabcPeerTable *self,
                        RabcPeerEntry *entry)
{
  RabcPeerUser *user = entry->user;

  if (user == NULL)
    return;

  if (entry->mid_frame)
    g_queue_unlink (&self->mid_frame, &entry->mid_frame_link);
  entry->mid_frame = FALSE;

  self->allocated -= entry->allocated;
  user->allocated -= entry->allocated;
  entry->allocated = 0;

  g_queue_unlink (&user->peers, &entry->user_link);
  entry->user = NULL;
  self->n_peers--;
  if (user->peers.length == 0)
    g_hash_table_remove (self->users, GUINT_TO_POINTER (user->uid));
}

/*
 * rabc_peer_table_update:
 * @allocated: the memory the peer's connection holds now
 * @bytes_moved: the bytes it has read and written so far
 * @mid_frame: whether it is in the middle of a frame, in either direction
 *
 * Records the state of @entry after its connection did some I/O: any
 * change of @bytes_moved is progress.
 */
void
rabc_peer_table_update (RabcPeerTable *self,
                        RabcPeerEntry *entry,
                        gsize          allocated,
                        guint64        bytes_moved,
                        gboolean       mid_frame,
                        gint64         now)
{
  gboolean progressed = bytes_moved != entry->bytes_moved;

  /* The common case, a request answered whole: nothing held, nothing
   * half-way, before or after. */
  if (!mid_frame && !entry->mid_frame && allocated == entry->allocated)
    {
      entry->bytes_moved = bytes_moved;
      return;
    }

  self->allocated += allocated - entry->allocated;
  entry->user->allocated += allocated - entry->allocated;
  entry->allocated = allocated;

  entry->bytes_moved = bytes_moved;
  if (progressed)
    entry->last_progress = now;

  if (!mid_frame)
    {
      if (entry->mid_frame)
        g_queue_unlink (&self->mid_frame, &entry->mid_frame_link);
      entry->mid_frame = FALSE;
    }
  else if (!entry->mid_frame)
    {
      /* Entering a frame is progress, whatever the counter says. */
      entry->last_progress = now;
      entry->mid_frame = TRUE;
      g_queue_push_tail_link (&self->mid_frame, &entry->mid_frame_link);
    }
  else if (progressed)
    {
      /* The queue stays in the order of the latest progress. */
      g_queue_unlink (&self->mid_frame, &entry->mid_frame_link);
      g_queue_push_tail_link (&self->mid_frame, &entry->mid_frame_link);
    }
}

/* The peer holding the most memory among the peers of the user holding
 * the most, or NULL when nobody holds any: whom to drop when the memory
 * runs short, so that users holding less than their share keep theirs. */
RabcPeerEntry *
rabc_peer_table_find_largest (RabcPeerTable *self)
{
  RabcPeerUser *largest_user = NULL;
  RabcPeerEntry *largest = NULL;
  GHashTableIter iter;
  RabcPeerUser *user;

  g_hash_table_iter_init (&iter, self->users);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &user))
    if (largest_user == NULL || user->allocated > largest_user->allocated)
      largest_user = user;

  if (largest_user == NULL || largest_user->allocated == 0)
    return NULL;

  for (GList *l = largest_user->peers.head; l != NULL; l = l->next)
    {
      RabcPeerEntry *entry = l->data;

      if (largest == NULL || entry->allocated > largest->allocated)
        largest = entry;
    }
  return largest;
}

/* The peer in the middle of a frame whose latest progress is the oldest,
 * if that is no later than @since; else NULL. */
RabcPeerEntry *
rabc_peer_table_get_stalled_since (RabcPeerTable *self,
                             gint64         since)
{
  RabcPeerEntry *entry = rabc_peer_table_peek_mid_frame (self);

  return entry != NULL && entry->last_progress <= since ? entry : NULL;
}

/* The peer in the middle of a frame whose latest progress is the oldest,
 * or NULL. */
RabcPeerEntry *
rabc_peer_table_peek_mid_frame (RabcPeerTable *self)
{
  GList *head = g_queue_peek_head_link (&self->mid_frame);

  return head != NULL ? head->data : NULL;
}
