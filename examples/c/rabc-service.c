/* rabc-service.c: a small service over librabc, a key-value store and
 * system facts
 *
 *   rabc-service [--socket PATH] [--verbose]
 *
 * The service of examples/python/service.py, in C, with the same commands
 * and replies: see that file for the list. Every message goes to the
 * RabcServer::handle-request handler below as a RabcRequest, answered
 * with rabc_request_reply(): at once for most commands, from a GLib
 * timeout for "sleep MS", and from a GTask worker thread for "primes N".
 * Replies go out in the order of the requests on each connection however
 * they are answered.
 *
 * On SIGINT or SIGTERM the service answers the "sleep" commands still
 * waiting with an error, lets the counts in progress finish and be
 * answered, answers any command arriving meanwhile with an error, then
 * stops and removes its socket file.
 *
 * Build against an installed librabc with:
 *   cc rabc-service.c $(pkg-config --cflags --libs rabc-1) -o rabc-service
 *
 * SPDX-License-Identifier: MIT
 */

#define _DEFAULT_SOURCE   /* getloadavg() */

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rabc.h>

#define MAX_KEYS 1000
#define MAX_STORE_BYTES (16 * 1024 * 1024)
#define MAX_SLEEP_MS 60000
#define MAX_PRIMES_N 10000000
/* Text from a client is quoted in errors up to this many characters, so
 * that an error about a long message stays short. */
#define MAX_QUOTED 64

#define COMMANDS "get KEY, set KEY VALUE, del KEY, keys, hostname, uptime, load, whoami, " \
                 "sleep MS, primes N, help, ping"

typedef struct {
  GMainLoop  *loop;
  GHashTable *store;        /* char * key -> char * value */
  gsize       store_bytes;
  GPtrArray  *sleeping;     /* Sleep *, waiting for their timeout */
  guint       working;      /* counts in worker threads, not yet returned */
  gboolean    stopping;
} Service;

typedef struct {
  Service     *service;
  RabcRequest *request;
  guint        source_id;
  guint        ms;
} Sleep;

typedef struct {
  RabcRequest *request;
  guint        n;
} Count;

static char *socket_path;
static gboolean verbose;

static const GOptionEntry entries[] = {
  { "socket", 's', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &socket_path,
    "Listen on PATH (default: $RABC_SOCKET_PATH, or " RABC_DEFAULT_SOCKET_PATH ")", "PATH" },
  { "verbose", 'v', G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &verbose,
    "Log the clients that come and go on standard error", NULL },
  { NULL }
};

/* @text in double quotes, cut after MAX_QUOTED characters. */
static char *
quote (const char *text)
{
  if (g_utf8_strlen (text, -1) <= MAX_QUOTED)
    return g_strdup_printf ("\"%s\"", text);

  return g_strdup_printf ("\"%.*s…\"",
                          (int) (g_utf8_offset_to_pointer (text, MAX_QUOTED) - text), text);
}

/* @text as a number from 0 to @max, like the Python service: ASCII digits
 * only, no sign, no spaces. */
static gboolean
parse_number (const char *text,
              guint       max,
              guint      *number)
{
  guint64 value;

  if (text == NULL || !g_ascii_isdigit (text[0]))
    return FALSE;
  if (!g_ascii_string_to_unsigned (text, 10, 0, max, &value, NULL))
    return FALSE;
  *number = value;
  return TRUE;
}

static guint
count_primes (guint n)
{
  g_autofree guint8 *composite = NULL;
  guint count = 0;

  if (n < 2)
    return 0;

  composite = g_malloc0 ((gsize) n + 1);
  for (guint64 i = 2; i <= n; i++)
    {
      if (composite[i])
        continue;
      count++;
      for (guint64 j = i * i; j <= n; j += i)
        composite[j] = 1;
    }
  return count;
}

static void
sleep_free (Sleep *sleep)
{
  g_object_unref (sleep->request);
  g_free (sleep);
}

static void
count_free (Count *count)
{
  g_object_unref (count->request);
  g_free (count);
}

static gboolean
on_slept (gpointer user_data)
{
  Sleep *sleep = user_data;
  g_autofree char *reply = g_strdup_printf ("slept %u ms", sleep->ms);

  rabc_request_reply (sleep->request, reply);
  sleep->source_id = 0;
  g_ptr_array_remove_fast (sleep->service->sleeping, sleep);
  return G_SOURCE_REMOVE;
}

/* In a worker thread: the reply is written in the main context. */
static void
count_in_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  Count *count = task_data;
  g_autofree char *reply = g_strdup_printf ("%u", count_primes (count->n));

  rabc_request_reply (count->request, reply);
  g_task_return_boolean (task, TRUE);
}

/* In the main context, once the worker is done. Its reply was queued to
 * the same context before, at the same priority, so it is written by now. */
static void
on_counted (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Service *service = user_data;

  service->working--;
  if (service->stopping && service->working == 0)
    g_main_loop_quit (service->loop);
}

/* Each command answers @request and returns NULL, or returns the text of
 * an error; @args is the rest of the message after the command and its
 * space, NULL when there is none. */

static char *
command_get (Service     *service,
             RabcRequest *request,
             const char  *args)
{
  const char *value;

  if (args == NULL || args[0] == '\0' || strchr (args, ' ') != NULL)
    return g_strdup ("usage: get KEY");

  value = g_hash_table_lookup (service->store, args);
  if (value == NULL)
    {
      g_autofree char *quoted = quote (args);

      return g_strdup_printf ("no key %s", quoted);
    }

  rabc_request_reply (request, value);
  return NULL;
}

static char *
command_set (Service     *service,
             RabcRequest *request,
             const char  *args)
{
  const char *space = args != NULL ? strchr (args, ' ') : NULL;
  g_autofree char *key = NULL;
  const char *value, *old;
  gsize size, old_size = 0;

  if (space == NULL || space == args)
    return g_strdup ("usage: set KEY VALUE");

  key = g_strndup (args, space - args);
  value = space + 1;
  size = strlen (key) + strlen (value);
  old = g_hash_table_lookup (service->store, key);
  if (old != NULL)
    old_size = strlen (key) + strlen (old);
  else if (g_hash_table_size (service->store) >= MAX_KEYS)
    return g_strdup_printf ("the store is full: it holds %d keys", MAX_KEYS);
  if (service->store_bytes - old_size + size > MAX_STORE_BYTES)
    return g_strdup_printf ("the store is full: it holds %d bytes", MAX_STORE_BYTES);

  service->store_bytes += size - old_size;
  g_hash_table_insert (service->store, g_steal_pointer (&key), g_strdup (value));
  rabc_request_reply (request, "ok");
  return NULL;
}

static char *
command_del (Service     *service,
             RabcRequest *request,
             const char  *args)
{
  const char *value;

  if (args == NULL || args[0] == '\0' || strchr (args, ' ') != NULL)
    return g_strdup ("usage: del KEY");

  value = g_hash_table_lookup (service->store, args);
  if (value == NULL)
    {
      g_autofree char *quoted = quote (args);

      return g_strdup_printf ("no key %s", quoted);
    }

  service->store_bytes -= strlen (args) + strlen (value);
  g_hash_table_remove (service->store, args);
  rabc_request_reply (request, "ok");
  return NULL;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static char *
command_keys (Service     *service,
              RabcRequest *request,
              const char  *args)
{
  g_autofree const char **keys = NULL;
  g_autofree char *reply = NULL;
  guint n_keys;

  if (args != NULL)
    return g_strdup ("usage: keys");

  keys = (const char **) g_hash_table_get_keys_as_array (service->store, &n_keys);
  qsort (keys, n_keys, sizeof *keys, compare_strings);
  reply = g_strjoinv (" ", (char **) keys);
  rabc_request_reply (request, reply);
  return NULL;
}

static char *
command_hostname (Service     *service,
                  RabcRequest *request,
                  const char  *args)
{
  if (args != NULL)
    return g_strdup ("usage: hostname");

  rabc_request_reply (request, g_get_host_name ());
  return NULL;
}

static char *
command_uptime (Service     *service,
                RabcRequest *request,
                const char  *args)
{
  struct timespec boot;
  g_autofree char *reply = NULL;

  if (args != NULL)
    return g_strdup ("usage: uptime");
  if (clock_gettime (CLOCK_BOOTTIME, &boot) != 0)
    return g_strdup_printf ("cannot read the uptime: %s", g_strerror (errno));

  reply = g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) boot.tv_sec);
  rabc_request_reply (request, reply);
  return NULL;
}

static char *
command_load (Service     *service,
              RabcRequest *request,
              const char  *args)
{
  double load[3];
  char numbers[3][G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree char *reply = NULL;

  if (args != NULL)
    return g_strdup ("usage: load");
  if (getloadavg (load, 3) != 3)
    return g_strdup ("cannot read the load averages");

  /* In the protocol, not in the locale: always a decimal point. */
  for (guint i = 0; i < 3; i++)
    g_ascii_formatd (numbers[i], sizeof numbers[i], "%.2f", load[i]);
  reply = g_strdup_printf ("%s %s %s", numbers[0], numbers[1], numbers[2]);
  rabc_request_reply (request, reply);
  return NULL;
}

static char *
command_whoami (Service     *service,
                RabcRequest *request,
                const char  *args)
{
  RabcPeer *peer = rabc_request_get_peer (request);
  g_autofree char *reply = NULL;

  if (args != NULL)
    return g_strdup ("usage: whoami");

  reply = g_strdup_printf ("pid %d uid %u gid %u", rabc_peer_get_pid (peer),
                           rabc_peer_get_uid (peer), rabc_peer_get_gid (peer));
  rabc_request_reply (request, reply);
  return NULL;
}

static char *
command_sleep (Service     *service,
               RabcRequest *request,
               const char  *args)
{
  Sleep *sleep;
  guint ms;

  if (!parse_number (args, MAX_SLEEP_MS, &ms))
    return g_strdup_printf ("usage: sleep MS, with MS from 0 to %d", MAX_SLEEP_MS);

  sleep = g_new0 (Sleep, 1);
  sleep->service = service;
  sleep->request = g_object_ref (request);
  sleep->ms = ms;
  sleep->source_id = g_timeout_add (ms, on_slept, sleep);
  g_ptr_array_add (service->sleeping, sleep);
  return NULL;
}

static char *
command_primes (Service     *service,
                RabcRequest *request,
                const char  *args)
{
  g_autoptr(GTask) task = NULL;
  Count *count;
  guint n;

  if (!parse_number (args, MAX_PRIMES_N, &n))
    return g_strdup_printf ("usage: primes N, with N from 0 to %d", MAX_PRIMES_N);

  count = g_new0 (Count, 1);
  count->request = g_object_ref (request);
  count->n = n;
  task = g_task_new (NULL, NULL, on_counted, service);
  g_task_set_source_tag (task, command_primes);
  g_task_set_task_data (task, count, (GDestroyNotify) count_free);
  service->working++;
  g_task_run_in_thread (task, count_in_thread);
  return NULL;
}

static char *
command_help (Service     *service,
              RabcRequest *request,
              const char  *args)
{
  if (args != NULL)
    return g_strdup ("usage: help");

  rabc_request_reply (request, "commands: " COMMANDS);
  return NULL;
}

typedef char *(*CommandFunc) (Service *service, RabcRequest *request, const char *args);

static const struct {
  const char  *name;
  CommandFunc  func;
} commands[] = {
  { "get", command_get },
  { "set", command_set },
  { "del", command_del },
  { "keys", command_keys },
  { "hostname", command_hostname },
  { "uptime", command_uptime },
  { "load", command_load },
  { "whoami", command_whoami },
  { "sleep", command_sleep },
  { "primes", command_primes },
  { "help", command_help },
};

static gboolean
on_handle_request (RabcServer  *server,
                   RabcRequest *request,
                   gpointer     user_data)
{
  Service *service = user_data;
  const char *message = rabc_request_get_message (request);
  const char *space;
  g_autofree char *command = NULL;
  g_autofree char *error = NULL;
  g_autofree char *reply = NULL;

  /* The message ends at its first NUL: it must be all there is. */
  if (strlen (message) != g_bytes_get_size (rabc_request_get_payload (request)))
    {
      rabc_request_reply (request, "error: the message holds U+0000");
      return TRUE;
    }
  if (service->stopping)
    {
      rabc_request_reply (request, "error: the service is stopping");
      return TRUE;
    }

  space = strchr (message, ' ');
  command = space != NULL ? g_strndup (message, space - message) : g_strdup (message);
  /* Left to the server's reply, "pong", as rabcd answers. */
  if (g_str_equal (command, "ping"))
    return FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (command, commands[i].name))
      {
        error = commands[i].func (service, request, space != NULL ? space + 1 : NULL);
        if (error != NULL)
          {
            reply = g_strdup_printf ("error: %s", error);
            rabc_request_reply (request, reply);
          }
        return TRUE;
      }

  {
    g_autofree char *quoted = quote (command);

    reply = g_strdup_printf ("error: unknown command %s", quoted);
    rabc_request_reply (request, reply);
  }
  return TRUE;
}

static void
on_client_connected (RabcServer *server,
                     RabcPeer   *peer,
                     gpointer    user_data)
{
  g_printerr ("rabc-service: client connected: pid %d, uid %u\n",
              rabc_peer_get_pid (peer), rabc_peer_get_uid (peer));
}

static void
on_client_disconnected (RabcServer *server,
                        RabcPeer   *peer,
                        gpointer    user_data)
{
  g_printerr ("rabc-service: client gone: pid %d, uid %u\n",
              rabc_peer_get_pid (peer), rabc_peer_get_uid (peer));
}

/* Answers what waits for a timeout, and quits once the counts in progress
 * are answered. */
static gboolean
on_quit_signal (gpointer user_data)
{
  Service *service = user_data;

  if (service->stopping)
    return G_SOURCE_CONTINUE;

  service->stopping = TRUE;
  for (guint i = 0; i < service->sleeping->len; i++)
    {
      Sleep *sleep = g_ptr_array_index (service->sleeping, i);

      g_clear_handle_id (&sleep->source_id, g_source_remove);
      rabc_request_reply (sleep->request, "error: the service is stopping");
    }
  g_ptr_array_set_size (service->sleeping, 0);

  if (service->working == 0)
    g_main_loop_quit (service->loop);
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
  g_autoptr(GHashTable) store = NULL;
  g_autoptr(GPtrArray) sleeping = NULL;
  Service service = { 0 };
  guint sigint_id, sigterm_id;

  setlocale (LC_ALL, "");

  context = g_option_context_new ("- serve a key-value store and system facts");
  g_option_context_set_summary (context,
    "Answers the commands of examples/python/service.py on a Unix socket:\n"
    COMMANDS ".\n"
    "Stops cleanly on SIGINT or SIGTERM, removing its socket file.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("rabc-service: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("rabc-service: unexpected argument: %s\n", argv[1]);
      return 2;
    }

  loop = g_main_loop_new (NULL, FALSE);
  store = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  sleeping = g_ptr_array_new_with_free_func ((GDestroyNotify) sleep_free);
  service.loop = loop;
  service.store = store;
  service.sleeping = sleeping;

  server = rabc_server_new (socket_path);
  g_signal_connect (server, "handle-request", G_CALLBACK (on_handle_request), &service);
  if (verbose)
    {
      g_signal_connect (server, "client-connected", G_CALLBACK (on_client_connected), NULL);
      g_signal_connect (server, "client-disconnected", G_CALLBACK (on_client_disconnected), NULL);
    }

  /* Before listening: a supervisor may send SIGTERM as soon as the socket
   * exists. */
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, &service);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, &service);

  if (!rabc_server_start (server, &error))
    {
      g_printerr ("rabc-service: %s\n", error->message);
      g_source_remove (sigint_id);
      g_source_remove (sigterm_id);
      g_free (socket_path);
      return 1;
    }

  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  rabc_server_stop (server);
  g_free (socket_path);
  return 0;
}
