/* rabc-socket-file-private.h: the policy for a server's socket path
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The socket file a server created, and the lock it holds on its path. */
typedef struct _RabcSocketFile RabcSocketFile;

RabcSocketFile *rabc_socket_file_bind      (const char      *path,
                                            guint            mode,
                                            int             *listen_fd,
                                            GError         **error);
void            rabc_socket_file_release   (RabcSocketFile  *file);

G_END_DECLS
