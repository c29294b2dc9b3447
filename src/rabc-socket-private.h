/* rabc-socket-private.h: the socket system calls of librabc
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <gio/gio.h>
#include <sys/types.h>

G_BEGIN_DECLS

gboolean        rabc_socket_check_path          (const char                *path,
                                                 GError                   **error);
int             rabc_socket_connect             (const char                *path,
                                                 GError                   **error);
typedef enum {
  RABC_SOCKET_LISTENING,
  RABC_SOCKET_STALE,
  RABC_SOCKET_UNKNOWN,
} RabcSocketState;

RabcSocketState rabc_socket_probe               (const char                *path,
                                                 GError                   **error);
int             rabc_socket_listen              (const char                *path,
                                                 guint                      mode,
                                                 GError                   **error);
char           *rabc_socket_check_listener      (int                        fd,
                                                 GError                   **error);
gboolean        rabc_socket_get_peer            (int                        fd,
                                                 pid_t                     *pid,
                                                 uid_t                     *uid,
                                                 gid_t                     *gid);
GIOCondition    rabc_socket_condition_from_poll (guint                      revents);
int             rabc_socket_accept              (int                        listen_fd,
                                                 GError                   **error);

G_END_DECLS
