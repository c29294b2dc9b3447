/* rabc-error.c: the RABC_ERROR domain
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-error.h"

/**
 * rabc_error_quark:
 *
 * Gets the error domain of librabc.
 *
 * Returns: the [alias@GLib.Quark] of the [error@Rabc.Error] domain
 */
G_DEFINE_QUARK (rabc-error-quark, rabc_error)

G_DEFINE_ENUM_TYPE (RabcError, rabc_error,
  G_DEFINE_ENUM_VALUE (RABC_ERROR_IPC_CONNECTION, "ipc-connection"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_EXCEEDED_IPC_MAX_SIZE, "exceeded-ipc-max-size"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_INVALID_ARGUMENT, "invalid-argument"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_INVALID_DATA, "invalid-data"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_TIMED_OUT, "timed-out"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_CLOSED, "closed"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_BUG, "bug"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_ADDRESS_IN_USE, "address-in-use"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_UNTRUSTED_SERVER, "untrusted-server"),
  G_DEFINE_ENUM_VALUE (RABC_ERROR_NO_MEMORY, "no-memory"))
