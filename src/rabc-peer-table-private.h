/* rabc-peer-table-private.h: what a server's peers are and what they hold
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef struct _RabcPeerUser RabcPeerUser;

/* One connected peer, as the table sees it.  The owner sets @pid and @uid
 * and may point @data at anything; the rest is the table's. */
typedef struct {
  pid_t         pid;
  uid_t         uid;
  gpointer      data;

  RabcPeerUser *user;
  GList         user_link;
  gsize         allocated;
  guint64       bytes_moved;
  gint64        last_progress;
  gboolean      mid_frame;
  GList         mid_frame_link;
} RabcPeerEntry;

/* The peers of one server: how many each user has, the memory they hold,
 * and, for those in the middle of a frame, since when they made no
 * progress.  Pure bookkeeping: no I/O, no policy; the server decides. */
typedef struct {
  GHashTable *users;
  guint       n_peers;
  gsize       allocated;
  /* Peers in the middle of a frame, least recent progress first. */
  GQueue      mid_frame;
} RabcPeerTable;

void           rabc_peer_table_init           (RabcPeerTable *self);
void           rabc_peer_table_clear          (RabcPeerTable *self);

guint          rabc_peer_table_count_user     (RabcPeerTable *self,
                                               uid_t          uid);
gboolean       rabc_peer_table_contains       (const RabcPeerEntry *entry);
GPtrArray     *rabc_peer_table_list           (RabcPeerTable *self);
void           rabc_peer_table_add            (RabcPeerTable *self,
                                               RabcPeerEntry *entry,
                                               gint64         now);
void           rabc_peer_table_remove         (RabcPeerTable *self,
                                               RabcPeerEntry *entry);
void           rabc_peer_table_update         (RabcPeerTable *self,
                                               RabcPeerEntry *entry,
                                               gsize          allocated,
                                               guint64        bytes_moved,
                                               gboolean       mid_frame,
                                               gint64         now);

RabcPeerEntry *rabc_peer_table_find_largest      (RabcPeerTable *self);
RabcPeerEntry *rabc_peer_table_get_stalled_since (RabcPeerTable *self,
                                                  gint64         since);
RabcPeerEntry *rabc_peer_table_peek_mid_frame    (RabcPeerTable *self);

G_END_DECLS
