/* rabc-defaults.h: protocol defaults and runtime version
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#if !defined(__RABC_INSIDE__) && !defined(RABC_COMPILATION)
#error "Only <rabc.h> can be included directly."
#endif

#include <glib.h>

#include "rabc-version-macros.h"

G_BEGIN_DECLS

/**
 * RABC_DEFAULT_SOCKET_PATH:
 *
 * The Unix socket path used when neither the caller nor the
 * `RABC_SOCKET_PATH` environment variable names one.
 */
#define RABC_DEFAULT_SOCKET_PATH "/tmp/librabc"

/**
 * RABC_DEFAULT_MAX_MESSAGE_SIZE:
 *
 * The default maximum message size, in bytes. A message whose length is
 * greater than or equal to the maximum is refused by both sides.
 */
#define RABC_DEFAULT_MAX_MESSAGE_SIZE 1048576

/**
 * RABC_DEFAULT_PING_INTERVAL:
 *
 * The default interval between automatic pings of a [class@Rabc.Client],
 * in milliseconds.
 */
#define RABC_DEFAULT_PING_INTERVAL 2000

/**
 * RABC_DEFAULT_TIMEOUT:
 *
 * The default time a [class@Rabc.Client] waits for a reply, in
 * milliseconds.
 */
#define RABC_DEFAULT_TIMEOUT 5000

/**
 * RABC_DEFAULT_MAX_CLIENTS:
 *
 * The default of [property@Rabc.Server:max-clients]: as many clients as
 * dbus-daemon's system bus takes.
 */
#define RABC_DEFAULT_MAX_CLIENTS 2048

/**
 * RABC_DEFAULT_MAX_CLIENTS_PER_UID:
 *
 * The default of [property@Rabc.Server:max-clients-per-uid]: as many
 * connections per user as dbus-daemon's system bus allows.
 */
#define RABC_DEFAULT_MAX_CLIENTS_PER_UID 256

/**
 * RABC_DEFAULT_MAX_BUFFERED_BYTES:
 *
 * The default of [property@Rabc.Server:max-buffered-bytes], 64 MiB.
 */
#define RABC_DEFAULT_MAX_BUFFERED_BYTES (64 * 1024 * 1024)

/**
 * RABC_DEFAULT_FRAME_TIMEOUT:
 *
 * The default of [property@Rabc.Server:frame-timeout], in milliseconds:
 * dbus-daemon's `auth_timeout` on the system bus.
 */
#define RABC_DEFAULT_FRAME_TIMEOUT 5000

/**
 * RABC_DEFAULT_MAX_PENDING_REQUESTS:
 *
 * The default of [property@Rabc.Server:max-pending-requests]:
 * dbus-daemon's `max_replies_per_connection` on the system bus.
 */
#define RABC_DEFAULT_MAX_PENDING_REQUESTS 128

RABC_AVAILABLE_IN_ALL
const char *rabc_get_default_socket_path (void);

RABC_AVAILABLE_IN_ALL
guint       rabc_get_major_version       (void);
RABC_AVAILABLE_IN_ALL
guint       rabc_get_minor_version       (void);
RABC_AVAILABLE_IN_ALL
guint       rabc_get_micro_version       (void);

G_END_DECLS
