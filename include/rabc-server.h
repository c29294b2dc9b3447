/* rabc-server.h: the rabc daemon as a class
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#if !defined(__RABC_INSIDE__) && !defined(RABC_COMPILATION)
#error "Only <rabc.h> can be included directly."
#endif

#include <glib-object.h>

#include "rabc-peer.h"
#include "rabc-request.h"
#include "rabc-version-macros.h"

G_BEGIN_DECLS

#define RABC_TYPE_SERVER (rabc_server_get_type ())

RABC_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (RabcServer, rabc_server, RABC, SERVER, GObject)

RABC_AVAILABLE_IN_ALL
RabcServer *rabc_server_new                  (const char  *socket_path);

RABC_AVAILABLE_IN_ALL
gboolean    rabc_server_start                (RabcServer  *self,
                                              GError     **error);
RABC_AVAILABLE_IN_ALL
gboolean    rabc_server_start_with_socket_fd (RabcServer  *self,
                                              int          fd,
                                              GError     **error);
RABC_AVAILABLE_IN_ALL
void        rabc_server_stop                 (RabcServer  *self);

RABC_AVAILABLE_IN_ALL
const char *rabc_server_get_socket_path      (RabcServer  *self);
RABC_AVAILABLE_IN_ALL
const char *rabc_server_get_reply            (RabcServer  *self);
RABC_AVAILABLE_IN_ALL
void        rabc_server_set_reply            (RabcServer  *self,
                                              const char  *reply);
RABC_AVAILABLE_IN_ALL
guint       rabc_server_get_max_message_size (RabcServer  *self);
RABC_AVAILABLE_IN_ALL
void        rabc_server_set_max_message_size (RabcServer  *self,
                                              guint        max_message_size);
RABC_AVAILABLE_IN_ALL
guint       rabc_server_get_socket_mode      (RabcServer  *self);
RABC_AVAILABLE_IN_ALL
void        rabc_server_set_socket_mode      (RabcServer  *self,
                                              guint        mode);
RABC_AVAILABLE_IN_ALL
void        rabc_server_add_allowed_uid      (RabcServer  *self,
                                              guint        uid);
RABC_AVAILABLE_IN_ALL
guint       rabc_server_get_max_clients      (RabcServer  *self);
RABC_AVAILABLE_IN_ALL
void        rabc_server_set_max_clients      (RabcServer  *self,
                                              guint        max_clients);
RABC_AVAILABLE_IN_ALL
guint       rabc_server_get_max_clients_per_uid (RabcServer *self);
RABC_AVAILABLE_IN_ALL
void        rabc_server_set_max_clients_per_uid (RabcServer *self,
                                              guint        max_clients_per_uid);
RABC_AVAILABLE_IN_ALL
guint64     rabc_server_get_max_buffered_bytes (RabcServer *self);
RABC_AVAILABLE_IN_ALL
void        rabc_server_set_max_buffered_bytes (RabcServer *self,
                                              guint64      max_buffered_bytes);
RABC_AVAILABLE_IN_ALL
guint       rabc_server_get_frame_timeout    (RabcServer  *self);
RABC_AVAILABLE_IN_ALL
void        rabc_server_set_frame_timeout    (RabcServer  *self,
                                              guint        frame_timeout);
RABC_AVAILABLE_IN_ALL
guint       rabc_server_get_max_pending_requests (RabcServer *self);
RABC_AVAILABLE_IN_ALL
void        rabc_server_set_max_pending_requests (RabcServer *self,
                                              guint        max_pending_requests);
RABC_AVAILABLE_IN_ALL
guint       rabc_server_get_n_clients        (RabcServer  *self);
RABC_AVAILABLE_IN_ALL
GList      *rabc_server_get_peers            (RabcServer  *self);
RABC_AVAILABLE_IN_ALL
gboolean    rabc_server_get_listening        (RabcServer  *self);

G_END_DECLS
