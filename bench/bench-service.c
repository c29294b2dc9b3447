/* bench-service.c: a RabcServer in a process of its own, with or without a
 * ::handle-request handler
 *
 * The two forms differ in the handler alone: the same program, the same
 * limits, the same main loop, so that comparing them measures what
 * answering from ::handle-request costs over the server's fixed reply.
 *
 * SPDX-License-Identifier: MIT
 */

#include "bench-service.h"

#include <glib-unix.h>
#include <signal.h>
#include <sys/resource.h>

#include <rabc.h>

/* Every connection of the benchmark is one user's. */
#define SERVICE_MAX_CLIENTS 20000

static gboolean
on_handle_request (RabcServer  *server,
                   RabcRequest *request,
                   gpointer     user_data)
{
  rabc_request_reply (request, "pong");
  return TRUE;
}

static gboolean
on_quit_signal (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

int
bench_service_main (const char *path,
                    gboolean    with_handler)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(RabcServer) server = NULL;
  g_autoptr(GError) error = NULL;
  struct rlimit limit;
  guint sigint_id, sigterm_id;

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }

  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, loop);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, loop);

  server = g_object_new (RABC_TYPE_SERVER,
                         "socket-path", path,
                         "reply", "pong",
                         "max-clients", SERVICE_MAX_CLIENTS,
                         "max-clients-per-uid", SERVICE_MAX_CLIENTS,
                         NULL);
  if (with_handler)
    g_signal_connect (server, "handle-request", G_CALLBACK (on_handle_request), NULL);

  if (!rabc_server_start (server, &error))
    {
      g_printerr ("rabc-bench --service: %s\n", error->message);
      g_source_remove (sigint_id);
      g_source_remove (sigterm_id);
      return 1;
    }

  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  rabc_server_stop (server);
  return 0;
}
