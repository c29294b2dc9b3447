/* rabc-error.h: the RABC_ERROR domain
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

/**
 * RABC_ERROR:
 *
 * The error domain of librabc. Errors in this domain are from the
 * [enum@Rabc.Error] enumeration.
 */
#define RABC_ERROR (rabc_error_quark ())

/**
 * RABC_TYPE_ERROR:
 *
 * The [alias@GObject.Type] of [enum@Rabc.Error].
 */
#define RABC_TYPE_ERROR (rabc_error_get_type ())

/**
 * RabcError:
 * @RABC_ERROR_IPC_CONNECTION: connecting, reading or writing failed, or
 *   the peer went away
 * @RABC_ERROR_EXCEEDED_IPC_MAX_SIZE: a message is not shorter than the
 *   maximum message size
 * @RABC_ERROR_INVALID_ARGUMENT: an argument was refused, for example a
 *   socket path that is too long or that is not a socket
 * @RABC_ERROR_INVALID_DATA: the peer sent data that breaks the protocol:
 *   text that is not UTF-8, or a message nobody asked for
 * @RABC_ERROR_TIMED_OUT: no reply arrived in time
 * @RABC_ERROR_CLOSED: the connection was closed locally, or was never open
 * @RABC_ERROR_BUG: an internal error in librabc; please report it
 * @RABC_ERROR_ADDRESS_IN_USE: a server is already listening on the socket
 *   path
 * @RABC_ERROR_UNTRUSTED_SERVER: the server runs as a user the client does
 *   not accept (see [property@Rabc.Client:server-uid])
 * @RABC_ERROR_NO_MEMORY: the memory for a message could not be allocated;
 *   its size comes from the peer, so this is an error of that connection,
 *   not of the program
 *
 * Error codes of the [error@Rabc.Error] domain. Cancellation is reported as
 * `G_IO_ERROR_CANCELLED` in the `G_IO_ERROR` domain, as in GIO. The page
 * of each function that can fail lists the errors it returns.
 *
 * ```c
 * g_autoptr(GError) error = NULL;
 * g_autofree char *reply = rabc_client_send_sync (client, text, NULL, &error);
 *
 * if (g_error_matches (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE))
 *   g_printerr ("at most %u bytes, please\n",
 *               rabc_client_get_max_message_size (client) - 1);
 * else if (error != NULL)
 *   g_printerr ("no reply: %s\n", error->message);
 * ```
 *
 * In Python the error is raised as `GLib.Error`, and the codes are the
 * members of `Rabc.Error`:
 *
 * In Python these errors are raised as `Rabc.RabcError`, a subclass of
 * `GLib.Error` whose `code` is a member of `Rabc.Error`:
 *
 * ```python
 * try:
 *     reply = client.send_sync(text)
 * except Rabc.RabcError as error:
 *     if error.code == Rabc.Error.EXCEEDED_IPC_MAX_SIZE:
 *         print("at most", client.props.max_message_size - 1, "bytes, please")
 *     else:
 *         print("no reply:", error.message)
 * ```
 */
typedef enum {
  RABC_ERROR_IPC_CONNECTION,
  RABC_ERROR_EXCEEDED_IPC_MAX_SIZE,
  RABC_ERROR_INVALID_ARGUMENT,
  RABC_ERROR_INVALID_DATA,
  RABC_ERROR_TIMED_OUT,
  RABC_ERROR_CLOSED,
  RABC_ERROR_BUG,
  RABC_ERROR_ADDRESS_IN_USE,
  RABC_ERROR_UNTRUSTED_SERVER,
  RABC_ERROR_NO_MEMORY,
} RabcError;

RABC_AVAILABLE_IN_ALL
GQuark rabc_error_quark    (void);
RABC_AVAILABLE_IN_ALL
GType  rabc_error_get_type (void) G_GNUC_CONST;

G_END_DECLS
