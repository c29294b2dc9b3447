/* bench-service.h: a RabcServer in a process of its own, with or without a
 * ::handle-request handler
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

/* Serves @path with a RabcServer until SIGTERM or SIGINT, answering every
 * message with "pong": from a ::handle-request handler that calls
 * rabc_request_reply() at once when @with_handler, else with the server's
 * reply property.  Returns the exit status. */
int bench_service_main (const char *path,
                        gboolean    with_handler);
