/* rabc-peer.h: one client connected to a RabcServer
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#if !defined(__RABC_INSIDE__) && !defined(RABC_COMPILATION)
#error "Only <rabc.h> can be included directly."
#endif

#include <glib-object.h>

#include "rabc-version-macros.h"

G_BEGIN_DECLS

#define RABC_TYPE_PEER (rabc_peer_get_type ())

RABC_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (RabcPeer, rabc_peer, RABC, PEER, GObject)

RABC_AVAILABLE_IN_ALL
int         rabc_peer_get_pid       (RabcPeer *self);
RABC_AVAILABLE_IN_ALL
guint       rabc_peer_get_uid       (RabcPeer *self);
RABC_AVAILABLE_IN_ALL
guint       rabc_peer_get_gid       (RabcPeer *self);
RABC_AVAILABLE_IN_ALL
guint       rabc_peer_get_n_pending (RabcPeer *self);
RABC_AVAILABLE_IN_ALL
gboolean    rabc_peer_get_connected (RabcPeer *self);
RABC_AVAILABLE_IN_ALL
void        rabc_peer_close         (RabcPeer *self);

G_END_DECLS
