/* bench-gdbus.c: GDBus peer to peer, GLib's own IPC, for comparison
 *
 * The server is what a GNOME developer would write instead of a librabc
 * daemon: a GDBusServer on a Unix socket, one object per connection with a
 * method that answers "pong", dispatched on the main loop.  The clients
 * are g_dbus_connection_call_sync() for latency and, for throughput,
 * g_dbus_connection_call() with one call in flight per connection.
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "bench-gdbus.h"
#include "bench-util.h"

#include <glib-unix.h>
#include <signal.h>
#include <string.h>

static const char introspection_xml[] =
  "<node>"
  "  <interface name='" BENCH_GDBUS_INTERFACE "'>"
  "    <method name='Ping'>"
  "      <arg type='s' name='message' direction='in'/>"
  "      <arg type='s' name='reply' direction='out'/>"
  "    </method>"
  "  </interface>"
  "</node>";

static void
on_method_call (GDBusConnection       *connection,
                const char            *sender,
                const char            *object_path,
                const char            *interface_name,
                const char            *method_name,
                GVariant              *parameters,
                GDBusMethodInvocation *invocation,
                gpointer               user_data)
{
  if (g_strcmp0 (method_name, "Ping") == 0)
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", "pong"));
  else
    g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "no method %s", method_name);
}

static const GDBusInterfaceVTable vtable = { on_method_call, NULL, NULL, { 0 } };

static void
on_connection_closed (GDBusConnection *connection,
                      gboolean         remote_peer_vanished,
                      GError          *error,
                      gpointer         user_data)
{
  g_signal_handlers_disconnect_by_func (connection, on_connection_closed, user_data);
  g_object_unref (connection);
}

static gboolean
on_new_connection (GDBusServer     *server,
                   GDBusConnection *connection,
                   gpointer         user_data)
{
  GDBusNodeInfo *info = user_data;
  g_autoptr(GError) error = NULL;

  if (g_dbus_connection_register_object (connection, BENCH_GDBUS_PATH, info->interfaces[0],
                                         &vtable, NULL, NULL, &error) == 0)
    {
      g_printerr ("rabc-bench --gdbus-server: %s\n", error->message);
      return FALSE;
    }
  /* Kept until the peer goes. */
  g_object_ref (connection);
  g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), NULL);
  return TRUE;
}

static gboolean
on_quit_signal (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

int
bench_gdbus_server_main (const char *path)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (introspection_xml, NULL);
  g_autofree char *guid = g_dbus_generate_guid ();
  g_autofree char *escaped = g_dbus_address_escape_value (path);
  g_autofree char *address = g_strdup_printf ("unix:path=%s", escaped);
  g_autoptr(GDBusServer) server = NULL;
  g_autoptr(GError) error = NULL;
  guint sigint_id, sigterm_id;

  server = g_dbus_server_new_sync (address, G_DBUS_SERVER_FLAGS_NONE, guid, NULL, NULL, &error);
  if (server == NULL)
    {
      g_printerr ("rabc-bench --gdbus-server: %s\n", error->message);
      return 1;
    }
  g_signal_connect (server, "new-connection", G_CALLBACK (on_new_connection), info);

  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, loop);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, loop);
  g_dbus_server_start (server);
  g_main_loop_run (loop);
  g_dbus_server_stop (server);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  return 0;
}

GDBusConnection *
bench_gdbus_connect (const char  *path,
                     GError     **error)
{
  g_autofree char *escaped = g_dbus_address_escape_value (path);
  g_autofree char *address = g_strdup_printf ("unix:path=%s", escaped);

  return g_dbus_connection_new_for_address_sync (address,
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
                                                 NULL, NULL, error);
}

static gboolean
check_reply (GVariant  *reply,
             GError   **error)
{
  const char *text = NULL;

  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(&s)", &text);
  if (strcmp (text, "pong") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "unexpected reply \"%.40s\"", text);
      return FALSE;
    }
  return TRUE;
}

gboolean
bench_gdbus_ping_sync (GDBusConnection  *connection,
                       const char       *message,
                       GError          **error)
{
  g_autoptr(GVariant) reply =
    g_dbus_connection_call_sync (connection, NULL, BENCH_GDBUS_PATH, BENCH_GDBUS_INTERFACE,
                                 "Ping", g_variant_new ("(s)", message), G_VARIANT_TYPE ("(s)"),
                                 G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);

  return check_reply (reply, error);
}

/* --- throughput ---------------------------------------------------------- */

typedef struct {
  GDBusConnection **conns;
  guint             n_conns;
  GVariant         *request;
  gboolean          sending;
  guint64           sent;
  guint64           answered;
  guint             outstanding;
  GError           *error;
} GdbusLoad;

typedef struct {
  GdbusLoad *load;
  guint      index;
} GdbusCall;

static void gdbus_load_send (GdbusLoad *load,
                             GdbusCall *call);

static void
on_load_reply (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  GdbusCall *call = user_data;
  GdbusLoad *load = call->load;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                            result, &error);

  load->outstanding--;
  if (!check_reply (reply, &error))
    {
      if (load->error == NULL)
        load->error = g_steal_pointer (&error);
      g_free (call);
      return;
    }
  load->answered++;
  if (load->sending && load->error == NULL)
    gdbus_load_send (load, call);
  else
    g_free (call);
}

static void
gdbus_load_send (GdbusLoad *load,
                 GdbusCall *call)
{
  load->sent++;
  load->outstanding++;
  g_dbus_connection_call (load->conns[call->index], NULL, BENCH_GDBUS_PATH,
                          BENCH_GDBUS_INTERFACE, "Ping", load->request,
                          G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          on_load_reply, call);
}

static gboolean
on_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

gboolean
bench_gdbus_load_run (const char       *path,
                      pid_t             server_pid,
                      guint             n_conns,
                      gsize             request_size,
                      double            warmup_s,
                      double            duration_s,
                      BenchLoadResult  *result,
                      GError          **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autofree char *message = bench_request_message (request_size);
  GdbusLoad load = { 0 };
  GSource *tick = NULL;
  BenchWindow window;
  gboolean ok = FALSE;
  gint64 now;

  memset (result, 0, sizeof *result);
  result->n_conns = n_conns;

  g_main_context_push_thread_default (context);
  load.conns = g_new0 (GDBusConnection *, n_conns);
  load.n_conns = n_conns;
  load.request = g_variant_ref_sink (g_variant_new ("(s)", message));
  load.sending = TRUE;

  for (guint i = 0; i < n_conns; i++)
    {
      load.conns[i] = bench_gdbus_connect (path, error);
      if (load.conns[i] == NULL)
        {
          g_prefix_error (error, "connection %u of %u: ", i + 1, n_conns);
          goto out;
        }
    }

  /* Wakes the loop up to look at the clock. */
  tick = g_timeout_source_new (10);
  g_source_set_callback (tick, on_tick, NULL, NULL);
  g_source_attach (tick, context);

  for (guint i = 0; i < n_conns; i++)
    {
      GdbusCall *call = g_new0 (GdbusCall, 1);

      call->load = &load;
      call->index = i;
      gdbus_load_send (&load, call);
    }

  /* The load generator is this process: GDBus's worker thread too. */
  bench_window_init (&window, server_pid, bench_self_cpu_ns, warmup_s, duration_s);

  for (;;)
    {
      now = bench_now_ns ();
      if (bench_window_update (&window, now, load.answered, result))
        load.sending = FALSE;
      if (load.error != NULL)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&load.error), "GDBus call: ");
          break;
        }
      if (!load.sending && load.outstanding == 0)
        {
          ok = TRUE;
          break;
        }
      if (!load.sending && now > window.closes + G_GINT64_CONSTANT (10000000000))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "%u calls were not answered within 10 s", load.outstanding);
          break;
        }
      if (server_pid > 0 && !bench_child_alive (server_pid))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               "the server exited during the run");
          break;
        }
      g_main_context_iteration (context, TRUE);
    }

out:
  result->sent = load.sent;
  result->answered = load.answered;
  /* Calls still in flight end with an error once their connection is
   * closed; their callbacks run below and free themselves. */
  load.sending = FALSE;
  for (guint i = 0; i < n_conns; i++)
    if (load.conns[i] != NULL)
      g_dbus_connection_close_sync (load.conns[i], NULL, NULL);
  {
    gint64 deadline = bench_now_ns () + G_GINT64_CONSTANT (5000000000);

    while (load.outstanding > 0 && tick != NULL && bench_now_ns () < deadline)
      g_main_context_iteration (context, TRUE);
  }
  if (tick != NULL)
    {
      g_source_destroy (tick);
      g_source_unref (tick);
    }
  for (guint i = 0; i < n_conns; i++)
    g_clear_object (&load.conns[i]);
  g_free (load.conns);
  g_variant_unref (load.request);
  g_clear_error (&load.error);
  g_main_context_pop_thread_default (context);
  return ok;
}
