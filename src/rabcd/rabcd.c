/* rabcd: the rabc daemon
 *
 * rabcd runs its main loop itself, so it lets the server make that loop
 * wait once per round: the GLib main context waits for the server's
 * clients and for its own sources (the SIGINT and SIGTERM handlers, which
 * GLib signals through its wake-up descriptor, and the server's timers) in
 * one epoll_wait() on the server's epoll set, whose events the server then
 * handles without asking the kernel again.  A round trip costs rabcd three
 * system calls (the wait, a read, a write) instead of four.  While GLib
 * has nothing to do, the server's dispatch waits in the set again itself,
 * so that a round trip costs no iteration of the main context either.  The
 * wait is set up with rabc_server_use_single_wait() once the server
 * listens, whether on its own socket or on one passed by socket
 * activation; it is described in rabc-single-wait.c.  Applications that
 * serve with a RabcServer on their own main context keep GLib's ordinary
 * poll().
 *
 * SPDX-License-Identifier: MIT
 */


#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rabc.h>

#include "rabc-server-private.h"

/* The first descriptor passed by socket activation (sd_listen_fds(3)). */
#define LISTEN_FDS_START 3

static char *socket_path;
static guint socket_mode = 0600;
static gboolean verbose;
static gboolean echo;
static gboolean show_version;
static GArray *allowed_uids;

static gboolean
parse_uid (const char  *option_name,
           const char  *value,
           gpointer     data,
           GError     **error)
{
  guint64 uid;

  if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32 - 1, &uid, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid --allow-uid \"%s\": expected a numeric user ID", value);
      return FALSE;
    }
  g_array_append_vals (allowed_uids, &(guint) { uid }, 1);
  return TRUE;
}

static gboolean
parse_mode (const char  *option_name,
            const char  *value,
            gpointer     data,
            GError     **error)
{
  guint64 mode;

  if (!g_ascii_string_to_unsigned (value, 8, 0, 0777, &mode, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid --mode \"%s\": expected octal permissions such as 0600", value);
      return FALSE;
    }
  socket_mode = mode;
  return TRUE;
}

static guint max_clients = RABC_DEFAULT_MAX_CLIENTS;
static guint max_clients_per_uid = RABC_DEFAULT_MAX_CLIENTS_PER_UID;
static guint64 max_buffered_bytes = RABC_DEFAULT_MAX_BUFFERED_BYTES;
static guint frame_timeout = RABC_DEFAULT_FRAME_TIMEOUT;

/* The value of --NAME as an unsigned number from @min to @max. */
static gboolean
parse_number (const char  *option_name,
              const char  *value,
              guint64      min,
              guint64      max,
              guint64     *number,
              GError     **error)
{
  if (!g_ascii_string_to_unsigned (value, 10, min, max, number, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid %s \"%s\": expected a number from %" G_GUINT64_FORMAT
                   " to %" G_GUINT64_FORMAT, option_name, value, min, max);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_limit (const char  *option_name,
             const char  *value,
             gpointer     data,
             GError     **error)
{
  guint64 number;

  if (g_str_equal (option_name, "--max-buffered-bytes"))
    return parse_number (option_name, value, 1, G_MAXUINT64, &max_buffered_bytes, error);

  if (!parse_number (option_name, value, g_str_equal (option_name, "--frame-timeout") ? 0 : 1,
                     G_MAXINT32, &number, error))
    return FALSE;

  if (g_str_equal (option_name, "--max-clients"))
    max_clients = number;
  else if (g_str_equal (option_name, "--max-clients-per-uid"))
    max_clients_per_uid = number;
  else
    frame_timeout = number;
  return TRUE;
}

static const GOptionEntry entries[] = {
  { "socket", 's', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &socket_path,
    "Listen on PATH (default: $RABC_SOCKET_PATH, or " RABC_DEFAULT_SOCKET_PATH ")", "PATH" },
  { "mode", 'm', G_OPTION_FLAG_NONE, G_OPTION_ARG_CALLBACK, parse_mode,
    "Give the socket file the octal permissions MODE (default: 0600)", "MODE" },
  { "allow-uid", 'u', G_OPTION_FLAG_NONE, G_OPTION_ARG_CALLBACK, parse_uid,
    "Accept connections only from user UID; repeat for more users (default: any user)", "UID" },
  { "max-clients", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_CALLBACK, parse_limit,
    "Serve at most N clients at once (default: 2048)", "N" },
  { "max-clients-per-uid", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_CALLBACK, parse_limit,
    "Serve at most N clients of one user at once (default: 256)", "N" },
  { "max-buffered-bytes", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_CALLBACK, parse_limit,
    "Hold at most BYTES for all clients together (default: 67108864, 64 MiB)", "BYTES" },
  { "frame-timeout", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_CALLBACK, parse_limit,
    "Disconnect a client stuck in the middle of a message for MS milliseconds "
    "(default: 5000; 0: never)", "MS" },
  { "echo", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &echo,
    "Answer every message with the message itself instead of \"pong\"", NULL },
  { "verbose", 'v', G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &verbose,
    "Log connections and other debugging messages", NULL },
  { "version", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &show_version,
    "Print the version and exit", NULL },
  { NULL }
};

/* The payload, not the message: a message holding U+0000 comes back whole. */
static gboolean
on_echo_request (RabcServer  *server,
                 RabcRequest *request,
                 gpointer     user_data)
{
  rabc_request_reply_bytes (request, rabc_request_get_payload (request));
  return TRUE;
}

static gboolean
on_quit_signal (gpointer user_data)
{
  GMainLoop *loop = user_data;

  g_debug ("stopping on signal");
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

/* The listening socket passed by systemd socket activation, or -1. */
static int
take_activated_socket (GError **error)
{
  const char *pid = g_getenv ("LISTEN_PID");
  const char *fds = g_getenv ("LISTEN_FDS");
  guint64 listen_pid, listen_fds;

  if (pid == NULL || fds == NULL ||
      !g_ascii_string_to_unsigned (pid, 10, 1, G_MAXINT, &listen_pid, NULL) ||
      listen_pid != (guint64) getpid ())
    return -1;

  g_unsetenv ("LISTEN_PID");
  g_unsetenv ("LISTEN_FDS");
  g_unsetenv ("LISTEN_FDNAMES");

  if (!g_ascii_string_to_unsigned (fds, 10, 0, G_MAXINT, &listen_fds, NULL) || listen_fds != 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "expected one socket from the service manager, got LISTEN_FDS=%s", fds);
      return -2;
    }

  return LISTEN_FDS_START;
}

/* Buffers for large messages come and go with the clients.  glibc raises
 * its mmap threshold each time it frees a large block, after which such
 * buffers come from the heap, which it rarely gives back: a daemon that
 * once received 1 MiB messages would then keep megabytes it no longer
 * uses.  A fixed threshold (the default's starting value) keeps large
 * buffers mapped, so that their memory goes back as they are freed. */
static void
return_large_buffers (void)
{
#ifdef __GLIBC__
  mallopt (M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

/* Every client costs a descriptor: allow as many as the hard limit. */
static void
raise_descriptor_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &limit) < 0)
        g_debug ("cannot raise the descriptor limit: %s", g_strerror (errno));
    }
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
  int activated_fd;

  setlocale (LC_ALL, "");
  allowed_uids = g_array_new (FALSE, FALSE, sizeof (guint));

  context = g_option_context_new ("- answer rabc clients on a Unix socket");
  g_option_context_set_summary (context,
    "Listens on a Unix socket and answers every message with \"pong\",\n"
    "or with the message itself with --echo.\n"
    "Stops cleanly on SIGINT or SIGTERM, removing its socket file.\n"
    "Started by systemd socket activation, it serves on the socket it is\n"
    "given and leaves the socket file to systemd.");
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

  raise_descriptor_limit ();
  return_large_buffers ();

  /* Before listening: once a client can see the socket, a SIGTERM must
   * already mean a clean stop. */
  loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, loop);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, loop);

  activated_fd = take_activated_socket (&error);
  server = g_object_new (RABC_TYPE_SERVER,
                         "socket-path", socket_path,
                         "socket-mode", socket_mode,
                         "max-clients", max_clients,
                         "max-clients-per-uid", max_clients_per_uid,
                         "max-buffered-bytes", max_buffered_bytes,
                         "frame-timeout", frame_timeout,
                         NULL);
  for (guint i = 0; i < allowed_uids->len; i++)
    rabc_server_add_allowed_uid (server, g_array_index (allowed_uids, guint, i));
  if (echo)
    g_signal_connect (server, "handle-request", G_CALLBACK (on_echo_request), NULL);
  if (activated_fd == -2 ||
      (activated_fd >= 0 && !rabc_server_start_with_socket_fd (server, activated_fd, &error)) ||
      (activated_fd == -1 && !rabc_server_start (server, &error)))
    {
      g_printerr ("rabcd: %s\n", error->message);
      return 1;
    }

  if (activated_fd >= 0)
    g_debug ("serving the socket passed by the service manager");
  if (!rabc_server_use_single_wait (server))
    g_debug ("waiting for the clients and the main loop separately");
  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  rabc_server_stop (server);
  g_free (socket_path);
  g_array_unref (allowed_uids);

  return 0;
}
