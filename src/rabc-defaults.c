/* rabc-defaults.c: protocol defaults and runtime version
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-defaults.h"
#include "rabc-version.h"

/**
 * rabc_get_default_socket_path:
 *
 * Gets the socket path used when none is given: the value of the
 * `RABC_SOCKET_PATH` environment variable if it is set and not empty, else
 * [const@Rabc.DEFAULT_SOCKET_PATH].
 *
 * Returns: (type filename): the default socket path
 */
const char *
rabc_get_default_socket_path (void)
{
  const char *path = g_getenv ("RABC_SOCKET_PATH");

  return path != NULL && *path != '\0' ? path : RABC_DEFAULT_SOCKET_PATH;
}

/**
 * rabc_get_major_version:
 *
 * Gets the major version of the librabc in use, which may differ from
 * [const@Rabc.MAJOR_VERSION], the one a program was compiled against.
 *
 * Returns: the major version
 */
guint
rabc_get_major_version (void)
{
  return RABC_MAJOR_VERSION;
}

/**
 * rabc_get_minor_version:
 *
 * Gets the minor version of the librabc in use.
 *
 * Returns: the minor version
 */
guint
rabc_get_minor_version (void)
{
  return RABC_MINOR_VERSION;
}

/**
 * rabc_get_micro_version:
 *
 * Gets the micro version of the librabc in use.
 *
 * Returns: the micro version
 */
guint
rabc_get_micro_version (void)
{
  return RABC_MICRO_VERSION;
}
