/* rabcd: the rabc daemon
 *
 * SPDX-License-Identifier: MIT
 */


#include <glib-unix.h>
#include <locale.h>
#include <signal.h>

#include <rabc.h>

static char *socket_path;
static gboolean verbose;
static gboolean show_version;

static const GOptionEntry entries[] = {
  { "socket", 's', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &socket_path,
    "Listen on PATH (default: $RABC_SOCKET_PATH, or " RABC_DEFAULT_SOCKET_PATH ")", "PATH" },
  { "verbose", 'v', G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &verbose,
    "Log connections and other debugging messages", NULL },
  { "version", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &show_version,
    "Print the version and exit", NULL },
  { NULL }
};

static gboolean
on_quit_signal (gpointer user_data)
{
  GMainLoop *loop = user_data;

  g_debug ("stopping on signal");
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(RabcServer) server = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  guint sigint_id, sigterm_id;

  setlocale (LC_ALL, "");

  context = g_option_context_new ("- answer rabc clients on a Unix socket");
  g_option_context_set_summary (context,
    "Listens on a Unix socket and answers every message with \"pong\".\n"
    "Stops cleanly on SIGINT or SIGTERM, removing its socket file.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("rabcd: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("rabcd: unexpected argument: %s\n", argv[1]);
      return 2;
    }

  if (show_version)
    {
      g_print ("rabcd %s\n", PACKAGE_VERSION);
      return 0;
    }

  if (verbose)
    g_log_set_debug_enabled (TRUE);

  server = rabc_server_new (socket_path);
  if (!rabc_server_start (server, &error))
    {
      g_printerr ("rabcd: %s\n", error->message);
      return 1;
    }

  loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, loop);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, loop);

  g_debug ("listening on %s", rabc_server_get_socket_path (server));
  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  rabc_server_stop (server);
  g_free (socket_path);

  return 0;
}
