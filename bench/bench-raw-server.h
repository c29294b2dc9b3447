/* bench-raw-server.h: the physical baseline of a server
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

/* Serves @path until SIGTERM or SIGINT, then removes it.  Returns the exit
 * status. */
int bench_raw_server_main (const char *path);
