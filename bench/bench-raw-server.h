/* bench-raw-server.h: the physical baseline of a server
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

/* Serves @path until SIGTERM or SIGINT, then removes it, answering every
 * frame with "pong", or with @echo with the frame itself.  Returns the exit
 * status. */
int bench_raw_server_main (const char *path,
                           gboolean    echo);
