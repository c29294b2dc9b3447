/* rabc-server-private.h: how RabcServer, RabcPeer and RabcRequest meet
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <sys/types.h>

#include "rabc-peer.h"
#include "rabc-request.h"
#include "rabc-server.h"

G_BEGIN_DECLS

/* A peer stands for one client of a server while it is connected, and
 * stays valid after.  Its link to the server, and everything the server
 * does for it, lives in the server's main context; what other threads may
 * do is hand work to that context. */
RabcPeer    *rabc_peer_new              (RabcServer   *server,
                                         gpointer      client,
                                         pid_t         pid,
                                         uid_t         uid,
                                         gid_t         gid,
                                         GMainContext *context,
                                         gsize         max_reply_size);
void         rabc_peer_disconnect       (RabcPeer     *self);
void         rabc_peer_set_n_pending    (RabcPeer     *self,
                                         guint         n_pending);
gsize        rabc_peer_get_max_reply_size (RabcPeer   *self);
/* Any thread: delivers the answer to request @seq in the server's
 * context, at once when the caller runs it.  @data (or @bytes, when not
 * NULL) is the reply; both NULL is the server's default reply. */
void         rabc_peer_answer           (RabcPeer     *self,
                                         guint64       seq,
                                         const char   *data,
                                         gsize         len,
                                         GBytes       *bytes);

RabcRequest *rabc_request_new           (RabcRequest  *spare,
                                         RabcPeer     *peer,
                                         guint64       seq,
                                         const char   *text,
                                         gsize         len);
gboolean     rabc_request_retire        (RabcRequest  *self);
/* The server answers the request with its default reply, unless it was
 * answered: returns FALSE then. */
gboolean     rabc_request_claim         (RabcRequest  *self);
gboolean     rabc_request_is_answered   (RabcRequest  *self);

/* In the server's context, for the peer of @client. */
void         rabc_server_deliver        (RabcServer   *self,
                                         gpointer      client,
                                         guint64       seq,
                                         const char   *data,
                                         gsize         len,
                                         GBytes       *bytes);
void         rabc_server_close_client   (RabcServer   *self,
                                         gpointer      client);

/* For a program that runs the server's main context itself, as rabcd does:
 * from now until the server stops, that context waits for its sources and
 * the server's clients in one epoll_wait() (see rabc-single-wait.c).  Call
 * it once the server is listening, outside a dispatch, while the context
 * holds no descriptors but GLib's own and the server's.
 *
 * Returns: whether the context waits so; if not, it waits as before */
gboolean     rabc_server_use_single_wait (RabcServer  *self);

G_END_DECLS
