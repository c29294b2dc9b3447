/* rabc-client.h: a client of the rabc daemon
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#if !defined(__RABC_INSIDE__) && !defined(RABC_COMPILATION)
#error "Only <rabc.h> can be included directly."
#endif

#include <gio/gio.h>

#include "rabc-version-macros.h"

G_BEGIN_DECLS

#define RABC_TYPE_CLIENT (rabc_client_get_type ())

/**
 * RABC_SERVER_UID_ANY:
 *
 * The value of [property@Rabc.Client:server-uid] that accepts a server
 * running as any user. It is `(uid_t) -1`, which is never a user's ID.
 */
#define RABC_SERVER_UID_ANY ((guint) 0xffffffffU)

RABC_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (RabcClient, rabc_client, RABC, CLIENT, GObject)

RABC_AVAILABLE_IN_ALL
RabcClient *rabc_client_new_sync              (const char           *socket_path,
                                               GCancellable         *cancellable,
                                               GError              **error);
RABC_AVAILABLE_IN_ALL
void        rabc_client_new_async             (const char           *socket_path,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
RABC_AVAILABLE_IN_ALL
RabcClient *rabc_client_new_finish            (GAsyncResult         *result,
                                               GError              **error);

RABC_AVAILABLE_IN_ALL
const char *rabc_client_get_socket_path       (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
gboolean    rabc_client_get_connected         (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
guint       rabc_client_get_ping_interval     (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
void        rabc_client_set_ping_interval     (RabcClient           *self,
                                               guint                 interval_ms);
RABC_AVAILABLE_IN_ALL
const char *rabc_client_get_ping_message      (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
char       *rabc_client_dup_ping_message      (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
void        rabc_client_set_ping_message      (RabcClient           *self,
                                               const char           *message);
RABC_AVAILABLE_IN_ALL
guint       rabc_client_get_max_message_size  (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
void        rabc_client_set_max_message_size  (RabcClient           *self,
                                               guint                 max_message_size);
RABC_AVAILABLE_IN_ALL
guint       rabc_client_get_timeout           (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
void        rabc_client_set_timeout           (RabcClient           *self,
                                               guint                 timeout_ms);
RABC_AVAILABLE_IN_ALL
gint64      rabc_client_get_round_trip_time   (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
gboolean    rabc_client_get_auto_reconnect    (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
void        rabc_client_set_auto_reconnect    (RabcClient           *self,
                                               gboolean              auto_reconnect);

RABC_AVAILABLE_IN_ALL
guint       rabc_client_get_server_uid        (RabcClient           *self);
RABC_AVAILABLE_IN_ALL
void        rabc_client_set_server_uid        (RabcClient           *self,
                                               guint                 server_uid);

RABC_AVAILABLE_IN_ALL
char       *rabc_client_send_sync             (RabcClient           *self,
                                               const char           *message,
                                               GCancellable         *cancellable,
                                               GError              **error);
RABC_AVAILABLE_IN_ALL
void        rabc_client_send_async            (RabcClient           *self,
                                               const char           *message,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
RABC_AVAILABLE_IN_ALL
char       *rabc_client_send_finish           (RabcClient           *self,
                                               GAsyncResult         *result,
                                               GError              **error);

RABC_AVAILABLE_IN_ALL
GBytes     *rabc_client_send_bytes_sync       (RabcClient           *self,
                                               GBytes               *message,
                                               GCancellable         *cancellable,
                                               GError              **error);
RABC_AVAILABLE_IN_ALL
void        rabc_client_send_bytes_async      (RabcClient           *self,
                                               GBytes               *message,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
RABC_AVAILABLE_IN_ALL
GBytes     *rabc_client_send_bytes_finish     (RabcClient           *self,
                                               GAsyncResult         *result,
                                               GError              **error);

RABC_AVAILABLE_IN_ALL
void        rabc_client_close                 (RabcClient           *self);

G_END_DECLS
