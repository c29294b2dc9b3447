/* rabcc: the rabc command-line client
 *
 * SPDX-License-Identifier: MIT
 */


#include <locale.h>
#include <signal.h>
#include <unistd.h>

#include <glib-unix.h>
#include <rabc.h>

static char *socket_path;
static int count = 5;
static int interval = RABC_DEFAULT_PING_INTERVAL;
static char *message;
static int timeout = RABC_DEFAULT_TIMEOUT;
static gboolean json_output;
static gboolean reconnect;
static gboolean show_version;
static guint server_uid;

static gboolean
parse_server_uid (const char  *option_name,
                  const char  *value,
                  gpointer     data,
                  GError     **error)
{
  guint64 uid;

  if (g_str_equal (value, "any"))
    {
      server_uid = RABC_SERVER_UID_ANY;
      return TRUE;
    }
  if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32 - 1, &uid, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid --server-uid \"%s\": expected a numeric user ID or \"any\"", value);
      return FALSE;
    }
  server_uid = uid;
  return TRUE;
}

static const GOptionEntry entries[] = {
  { "socket", 's', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &socket_path,
    "Connect to PATH (default: $RABC_SOCKET_PATH, or " RABC_DEFAULT_SOCKET_PATH ")", "PATH" },
  { "count", 'c', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &count,
    "Exit after N replies; 0 runs until interrupted (default: 5)", "N" },
  { "interval", 'i', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &interval,
    "Send a message every MS milliseconds (default: 2000)", "MS" },
  { "message", 'm', G_OPTION_FLAG_NONE, G_OPTION_ARG_STRING, &message,
    "Send TEXT instead of \"ping\"", "TEXT" },
  { "timeout", 't', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &timeout,
    "Fail when a reply takes longer than MS milliseconds; 0 waits forever (default: 5000)", "MS" },
  { "reconnect", 'r', G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &reconnect,
    "Reconnect when the daemon goes away, and go on", NULL },
  { "server-uid", 'u', G_OPTION_FLAG_NONE, G_OPTION_ARG_CALLBACK, parse_server_uid,
    "Also accept a daemon running as user UID, or as anybody with \"any\" "
    "(default: only root or yourself)", "UID" },
  { "json", 'j', G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &json_output,
    "Print one JSON object per reply: message, reply and round trip in microseconds", NULL },
  { "version", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &show_version,
    "Print the version and exit", NULL },
  { NULL }
};

typedef struct {
  GMainLoop *loop;
  GArray    *round_trips;
  int        status;
  /* When the first message, sent at once, went out, and whether its
   * callback is still to come. */
  gint64     first_sent;
  gboolean   first_pending;
  gboolean   done;
} State;

/* Ends the run.  May come before the loop runs: the first message can
 * fail the connection as it is sent. */
static void
finish_run (State *state)
{
  state->done = TRUE;
  g_main_loop_quit (state->loop);
}

/* SIGINT or SIGTERM: end the run as a count reached would, with the
 * summary, and the status a shell gives a command killed by the signal. */
typedef struct {
  State *state;
  int    signum;
} Stop;

static gboolean
on_stop_signal (gpointer user_data)
{
  Stop *stop = user_data;

  stop->state->status = 128 + stop->signum;
  finish_run (stop->state);
  return G_SOURCE_CONTINUE;
}

static void
append_json_string (GString    *out,
                    const char *text)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      guchar c = *p;

      if (c == '"' || c == '\\')
        g_string_append_printf (out, "\\%c", c);
      else if (c < 0x20)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, c);
    }
  g_string_append_c (out, '"');
}

static void
print_json (const char *sent,
            const char *reply,
            gint64      round_trip)
{
  g_autoptr(GString) line = g_string_new ("{\"message\": ");

  append_json_string (line, sent);
  g_string_append (line, ", \"reply\": ");
  append_json_string (line, reply);
  g_string_append_printf (line, ", \"round_trip_us\": %" G_GINT64_FORMAT "}\n", round_trip);
  g_print ("%s", line->str);
}

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

/* With --json, the summary is a JSON object too, so that every line of
 * the output parses. */
static void
print_summary (GArray *round_trips)
{
  gint64 *values = (gint64 *) (gpointer) round_trips->data;
  guint n = round_trips->len;
  gint64 median;

  if (n == 0)
    {
      g_print (json_output ? "{\"replies\": 0}\n" : "0 replies\n");
      return;
    }

  g_array_sort (round_trips, compare_gint64);
  median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  if (json_output)
    g_print ("{\"replies\": %u, \"round_trip_us\": {\"min\": %" G_GINT64_FORMAT
             ", \"median\": %" G_GINT64_FORMAT ", \"max\": %" G_GINT64_FORMAT "}}\n",
             n, values[0], median, values[n - 1]);
  else
    g_print ("%u %s, round trip min/median/max: %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
             "/%" G_GINT64_FORMAT " µs\n",
             n, n == 1 ? "reply" : "replies", values[0], median, values[n - 1]);
}

/* A reply, to the first message or to an automatic ping. */
static void
add_reply (RabcClient *client,
           const char *reply,
           gint64      round_trip,
           State      *state)
{
  /* The first message's reply comes through its callback, at an iteration
   * after the pings' replies of the same read: one of those may have
   * reached the count already. */
  if (count > 0 && state->round_trips->len >= (guint) count)
    return;

  g_array_append_val (state->round_trips, round_trip);
  if (json_output)
    print_json (rabc_client_get_ping_message (client), reply, round_trip);
  else
    g_print ("%s\n", reply);

  if (count > 0 && state->round_trips->len >= (guint) count)
    rabc_client_close (client);
}

static void
on_reply (RabcClient *client,
          const char *reply,
          State      *state)
{
  add_reply (client, reply, rabc_client_get_round_trip_time (client), state);
}

/* The first message goes out at once, rather than one interval after
 * connecting; the automatic pings keep their period from the connection. */
static void
on_first_reply (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  RabcClient *client = RABC_CLIENT (source);
  State *state = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = rabc_client_send_finish (client, result, &error);

  state->first_pending = FALSE;
  /* Once the run has ended (stopped, or a ping went unanswered in the
   * same dispatch), its reason is told already. */
  if (state->done)
    ;
  else if (reply != NULL)
    add_reply (client, reply, g_get_monotonic_time () - state->first_sent, state);
  /* A connection that ended is reported by ::closed; a reply that did not
   * come in time is reported here, as it ends the run. */
  else if (g_error_matches (error, RABC_ERROR, RABC_ERROR_TIMED_OUT) && !reconnect)
    {
      g_printerr ("rabcc: %s\n", error->message);
      state->status = 1;
      finish_run (state);
    }
}

/* A daemon that closes the connection before answering anything most
 * likely refused this user (rabcd --allow-uid): it says why in its log,
 * not on the wire, which the original clients would not expect. */
static const char *
closed_hint (const GError *error,
             State        *state)
{
  if (state->round_trips->len == 0 &&
      g_error_matches (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION))
    return " before any reply (does the daemon accept your user? see --allow-uid in rabcd(8))";
  return "";
}

static void
on_closed (RabcClient   *client,
           const GError *error,
           State        *state)
{
  /* The run ended already, and said why. */
  if (state->done)
    return;
  if (error != NULL && reconnect)
    {
      g_printerr ("rabcc: %s; reconnecting\n", error->message);
      return;
    }

  if (error != NULL)
    {
      g_printerr ("rabcc: %s%s\n", error->message, closed_hint (error, state));
      state->status = 1;
    }
  finish_run (state);
}

/* A hint after a failure to connect: nothing at the path means no daemon
 * made it, which is what the user most likely needs to hear. */
static const char *
connect_hint (const GError *error)
{
  const char *path = socket_path != NULL ? socket_path : rabc_get_default_socket_path ();

  if (g_error_matches (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION) &&
      !g_file_test (path, G_FILE_TEST_EXISTS))
    return " (is rabcd running? \"systemctl start rabcd.socket\" starts it)";
  return "";
}

static gboolean
check_options (GError **error)
{
  if (count < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--count must not be negative");
      return FALSE;
    }
  if (interval <= 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--interval must be a positive number of milliseconds");
      return FALSE;
    }
  if (timeout < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--timeout must not be negative");
      return FALSE;
    }
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(RabcClient) client = NULL;
  State state = { 0 };
  Stop stops[] = { { &state, SIGINT }, { &state, SIGTERM } };
  guint stop_sources[G_N_ELEMENTS (stops)];

  setlocale (LC_ALL, "");

  context = g_option_context_new ("- talk to the rabc daemon");
  g_option_context_set_summary (context,
    "Connects to rabcd, sends \"ping\" at once and then every two seconds, and\n"
    "prints each reply.\n"
    "Exits 0 after the given number of replies, 1 when the daemon cannot be\n"
    "reached or a reply does not come, 2 for bad options, and 130 or 143 when\n"
    "stopped by SIGINT (Ctrl-C) or SIGTERM. On a terminal, a summary of the\n"
    "round trips ends the run, however it ends.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) ||
      !check_options (&error))
    {
      g_printerr ("rabcc: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("rabcc: unexpected argument: %s\n", argv[1]);
      return 2;
    }

  if (show_version)
    {
      g_print ("rabcc %s\n", PACKAGE_VERSION);
      return 0;
    }

  client = g_initable_new (RABC_TYPE_CLIENT, NULL, &error,
                           "socket-path", socket_path,
                           "ping-interval", (guint) interval,
                           "ping-message", message != NULL ? message : "ping",
                           "timeout", (guint) timeout,
                           "auto-reconnect", reconnect,
                           "server-uid", server_uid,
                           NULL);
  if (client == NULL)
    {
      g_printerr ("rabcc: %s%s\n", error->message, connect_hint (error));
      return 1;
    }

  state.loop = g_main_loop_new (NULL, FALSE);
  state.round_trips = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_signal_connect (client, "reply", G_CALLBACK (on_reply), &state);
  g_signal_connect (client, "closed", G_CALLBACK (on_closed), &state);
  for (guint i = 0; i < G_N_ELEMENTS (stops); i++)
    stop_sources[i] = g_unix_signal_add (stops[i].signum, on_stop_signal, &stops[i]);

  state.first_sent = g_get_monotonic_time ();
  state.first_pending = TRUE;
  rabc_client_send_async (client, rabc_client_get_ping_message (client), NULL,
                          on_first_reply, &state);

  if (!state.done)
    g_main_loop_run (state.loop);

  for (guint i = 0; i < G_N_ELEMENTS (stops); i++)
    g_source_remove (stop_sources[i]);

  g_signal_handlers_disconnect_by_data (client, &state);
  /* Stopped before the first reply: closing fails the message, whose
   * callback comes at the next iteration. */
  rabc_client_close (client);
  while (state.first_pending)
    g_main_context_iteration (NULL, TRUE);
  g_main_loop_unref (state.loop);

  if (isatty (STDOUT_FILENO))
    print_summary (state.round_trips);
  g_array_unref (state.round_trips);
  g_free (socket_path);
  g_free (message);

  return state.status;
}
