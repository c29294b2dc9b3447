/* test-client-server.c: RabcClient and RabcServer in one process
 *
 * SPDX-License-Identifier: MIT
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <glib-unix.h>

#include "rabc-frame-private.h"
#include "rabc-test-util.h"

typedef RabcTestFixture Fixture;

static void make_stale_socket (const char *path);

static RabcServer *
start_server (const char *path)
{
  g_autoptr(GError) error = NULL;
  RabcServer *server = rabc_server_new (path);

  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  return server;
}

static RabcClient *
connect_client (const char *path,
                guint       ping_interval)
{
  g_autoptr(GError) error = NULL;
  RabcClient *client;

  client = g_initable_new (RABC_TYPE_CLIENT, NULL, &error,
                           "socket-path", path,
                           "ping-interval", ping_interval,
                           NULL);
  g_assert_no_error (error);
  g_assert_true (rabc_client_get_connected (client));
  return client;
}

/* Iterates until a timeout of @interval_ms attached now has fired.  Any
 * timeout of the same priority and at most that interval that is attached
 * already expires no later, and GLib dispatches every expired source of a
 * priority in the same iteration: when this returns, each such timer still
 * attached has fired since the call.  It is how a test proves that a timer
 * that should be gone is gone, without guessing a duration. */
static void
wait_for_timers_armed_before (guint interval_ms)
{
  rabc_test_run_for (interval_ms);
}

/* A request sent with send_async, and its outcome. */
typedef struct {
  gboolean  done;
  char     *reply;
  GError   *error;
} Request;

static void
on_send_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Request *request = user_data;

  g_assert_false (request->done);
  request->reply = rabc_client_send_finish (RABC_CLIENT (source), result, &request->error);
  request->done = TRUE;
}

static void
request_clear (Request *request)
{
  g_clear_pointer (&request->reply, g_free);
  g_clear_error (&request->error);
  request->done = FALSE;
}

/* Sends @message with send_async and checks that @expected answers it. */
static void
assert_round_trip (RabcClient *client,
                   const char *message,
                   const char *expected)
{
  Request request = { 0 };

  rabc_client_send_async (client, message, NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_no_error (request.error);
  g_assert_cmpstr (request.reply, ==, expected);
  request_clear (&request);
}

typedef struct {
  guint   n_replies;
  GPtrArray *replies;
  guint   n_closed;
  GError *closed_error;
  gboolean closed;
  guint   n_connected_notify;
  guint   n_notify;
} ClientEvents;

static void
on_reply (RabcClient   *client,
          const char   *reply,
          ClientEvents *events)
{
  events->n_replies++;
  if (events->replies != NULL)
    g_ptr_array_add (events->replies, g_strdup (reply));
}

static void
on_closed (RabcClient   *client,
           const GError *error,
           ClientEvents *events)
{
  events->n_closed++;
  events->closed = TRUE;
  g_clear_error (&events->closed_error);
  if (error != NULL)
    events->closed_error = g_error_copy (error);
}

static void
on_notify_connected (RabcClient   *client,
                     GParamSpec   *pspec,
                     ClientEvents *events)
{
  events->n_connected_notify++;
}

static void
on_notify (RabcClient   *client,
           GParamSpec   *pspec,
           ClientEvents *events)
{
  events->n_notify++;
}

static void
watch_client (RabcClient   *client,
              ClientEvents *events)
{
  g_signal_connect (client, "reply", G_CALLBACK (on_reply), events);
  g_signal_connect (client, "closed", G_CALLBACK (on_closed), events);
  g_signal_connect (client, "notify::connected", G_CALLBACK (on_notify_connected), events);
  g_signal_connect (client, "notify", G_CALLBACK (on_notify), events);
}

static void
events_clear (ClientEvents *events)
{
  g_clear_error (&events->closed_error);
  g_clear_pointer (&events->replies, g_ptr_array_unref);
}

typedef struct {
  guint      connected;
  guint      disconnected;
  guint      n_clients_notify;
  GPtrArray *messages;
} ServerEvents;

static void
on_client_connected (RabcServer *server, RabcPeer *peer, ServerEvents *events)
{
  events->connected++;
}

static void
on_client_disconnected (RabcServer *server, RabcPeer *peer, ServerEvents *events)
{
  events->disconnected++;
}

static void
on_message_received (RabcServer *server, const char *message, ServerEvents *events)
{
  g_ptr_array_add (events->messages, g_strdup (message));
}

static void
on_notify_n_clients (RabcServer *server, GParamSpec *pspec, ServerEvents *events)
{
  events->n_clients_notify++;
}

static void
test_version (void)
{
  g_assert_true (RABC_CHECK_VERSION (RABC_MAJOR_VERSION, RABC_MINOR_VERSION, RABC_MICRO_VERSION));
  g_assert_true (RABC_CHECK_VERSION (0, 9, 0));
  g_assert_false (RABC_CHECK_VERSION (RABC_MAJOR_VERSION + 1, 0, 0));
  g_assert_cmpuint (rabc_get_major_version (), ==, RABC_MAJOR_VERSION);
  g_assert_cmpuint (rabc_get_minor_version (), ==, RABC_MINOR_VERSION);
  g_assert_cmpuint (rabc_get_micro_version (), ==, RABC_MICRO_VERSION);
}

static void
test_default_socket_path (void)
{
  g_autofree char *saved = g_strdup (g_getenv ("RABC_SOCKET_PATH"));
  g_autoptr(RabcServer) server = NULL;

  g_setenv ("RABC_SOCKET_PATH", "/run/somewhere/rabc", TRUE);
  g_assert_cmpstr (rabc_get_default_socket_path (), ==, "/run/somewhere/rabc");
  server = rabc_server_new (NULL);
  g_assert_cmpstr (rabc_server_get_socket_path (server), ==, "/run/somewhere/rabc");

  g_unsetenv ("RABC_SOCKET_PATH");
  g_assert_cmpstr (rabc_get_default_socket_path (), ==, "/tmp/librabc");
  g_assert_cmpstr (rabc_get_default_socket_path (), ==, RABC_DEFAULT_SOCKET_PATH);

  if (saved != NULL)
    g_setenv ("RABC_SOCKET_PATH", saved, TRUE);
}

static void
test_error_type (void)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (RABC_TYPE_ERROR);

  g_assert_true (G_TYPE_IS_ENUM (RABC_TYPE_ERROR));
  g_assert_cmpstr (g_enum_get_value (klass, RABC_ERROR_IPC_CONNECTION)->value_nick, ==, "ipc-connection");
  g_assert_cmpstr (g_enum_get_value (klass, RABC_ERROR_TIMED_OUT)->value_nick, ==, "timed-out");
  g_assert_cmpstr (g_quark_to_string (RABC_ERROR), ==, "rabc-error-quark");
}

static void
test_send_sync (Fixture       *fixture,
                gconstpointer  data)
{
  RabcTestServerThread *thread = rabc_test_server_thread_new (fixture->path);
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(GError) error = NULL;

  client = rabc_client_new_sync (fixture->path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (rabc_client_get_socket_path (client), ==, fixture->path);

  /* No main loop runs in this thread. */
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *reply = rabc_client_send_sync (client, "ping", NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (reply, ==, "pong");
    }

  /* An empty message and a long one. */
  {
    g_autofree char *reply = rabc_client_send_sync (client, "", NULL, &error);
    g_autofree char *big = g_strnfill (RABC_DEFAULT_MAX_MESSAGE_SIZE - 1, 'x');
    g_autofree char *reply2 = NULL;

    g_assert_no_error (error);
    g_assert_cmpstr (reply, ==, "pong");
    reply2 = rabc_client_send_sync (client, big, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (reply2, ==, "pong");
  }

  rabc_client_close (client);
  rabc_test_server_thread_free (thread);
}

static void
test_send_async (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(GError) error = NULL;
  Request request = { 0 };

  rabc_client_new_async (fixture->path, NULL, rabc_test_store_result, &result);
  rabc_test_wait_for ((gboolean *) &result, 5000);
  client = rabc_client_new_finish (result, &error);
  g_assert_no_error (error);
  g_assert_true (RABC_IS_CLIENT (client));
  g_assert_true (rabc_client_get_connected (client));

  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  g_assert_false (request.done);   /* never completes before returning */
  rabc_test_wait_for (&request.done, 5000);
  g_assert_no_error (request.error);
  g_assert_cmpstr (request.reply, ==, "pong");
  request_clear (&request);

  rabc_server_set_reply (server, "hello");
  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_cmpstr (request.reply, ==, "hello");
  request_clear (&request);
}

static void
test_new_async_fails (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  RabcClient *client;

  rabc_client_new_async (fixture->path, NULL, rabc_test_store_result, &result);
  rabc_test_wait_for ((gboolean *) &result, 5000);
  client = rabc_client_new_finish (result, &error);
  g_assert_null (client);
  g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_nonnull (strstr (error->message, fixture->path));
  g_assert_nonnull (strstr (error->message, "No such file or directory"));
}

static void
test_connect_errors (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *long_path = g_strnfill (200, 'a');
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(RabcServer) server = start_server (fixture->path);
  RabcClient *client;


  client = rabc_client_new_sync ("/nonexistent/rabc.sock", NULL, &error);
  g_assert_null (client);
  g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_cmpstr (error->message, ==, "cannot connect to /nonexistent/rabc.sock: No such file or directory");
  g_clear_error (&error);

  /* connect(2) says "Connection refused" for what is not a socket. */
  {
    g_autofree char *file = g_build_filename (fixture->dir, "file", NULL);

    g_assert_true (g_file_set_contents (file, "", 0, NULL));
    client = rabc_client_new_sync (file, NULL, &error);
    g_assert_null (client);
    g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
    g_assert_nonnull (g_strstr_len (error->message, -1, "it is a regular file, not a socket"));
    g_clear_error (&error);

    client = rabc_client_new_sync (fixture->dir, NULL, &error);
    g_assert_null (client);
    g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
    g_assert_nonnull (g_strstr_len (error->message, -1, "it is a directory, not a socket"));
    g_clear_error (&error);
  }

  client = rabc_client_new_sync (long_path, NULL, &error);
  g_assert_null (client);
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "too long"));
  g_clear_error (&error);

  client = rabc_client_new_sync ("", NULL, &error);
  g_assert_null (client);
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* A socket file nobody listens on. */
  rabc_server_stop (server);
  make_stale_socket (fixture->path);
  client = rabc_client_new_sync (fixture->path, NULL, &error);
  g_assert_null (client);
  g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_nonnull (strstr (error->message, "Connection refused"));
  g_clear_error (&error);

  /* Cancelled before it starts: not even a live daemon is connected to. */
  g_unlink (fixture->path);
  g_clear_object (&server);
  server = start_server (fixture->path);
  g_cancellable_cancel (cancellable);
  client = rabc_client_new_sync (fixture->path, cancellable, &error);
  g_assert_null (client);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  {
    g_autoptr(GAsyncResult) result = NULL;

    rabc_client_new_async (fixture->path, cancellable, rabc_test_store_result, &result);
    rabc_test_wait_for ((gboolean *) &result, 5000);
    g_assert_null (rabc_client_new_finish (result, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  }
}

static void
on_init_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  GError **error = user_data;

  g_assert_false (g_async_initable_init_finish (G_ASYNC_INITABLE (source), result, error));
}

static void
test_init_twice (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(RabcServer) server G_GNUC_UNUSED = start_server (fixture->path);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  g_autoptr(RabcClient) failed = g_object_new (RABC_TYPE_CLIENT, "socket-path", "/nonexistent/rabc.sock", NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GError *async_error = NULL;

  /* A second init reports the outcome of the first, sync or async. */
  rabc_client_close (client);
  g_assert_true (g_initable_init (G_INITABLE (client), NULL, &error));
  g_async_initable_init_async (G_ASYNC_INITABLE (client), G_PRIORITY_DEFAULT, NULL,
                               rabc_test_store_result, &result);
  rabc_test_wait_for ((gboolean *) &result, 5000);
  g_assert_true (g_async_initable_init_finish (G_ASYNC_INITABLE (client), result, &error));
  g_assert_no_error (error);

  g_assert_false (g_initable_init (G_INITABLE (failed), NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_clear_error (&error);
  g_async_initable_init_async (G_ASYNC_INITABLE (failed), G_PRIORITY_DEFAULT, NULL,
                               on_init_done, &async_error);
  while (async_error == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_error (async_error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_error_free (async_error);
}

static void
test_automatic_pings (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 20);
  ClientEvents events = { 0 };
  ServerEvents server_events = { 0 };
  guint n_messages;

  g_assert_cmpuint (rabc_client_get_ping_interval (client), ==, 20);
  g_assert_cmpint (rabc_client_get_round_trip_time (client), ==, 0);
  watch_client (client, &events);
  events.replies = g_ptr_array_new_with_free_func (g_free);
  server_events.messages = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (server, "message-received", G_CALLBACK (on_message_received), &server_events);

  while (events.n_replies < 5)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (g_ptr_array_index (events.replies, 0), ==, "pong");
  g_assert_cmpint (rabc_client_get_round_trip_time (client), >, 0);

  /* Turning pings off stops them.  The server answers in order, so a ping
   * still on its way is answered before a request sent now. */
  rabc_client_set_ping_interval (client, 0);
  assert_round_trip (client, "request", "pong");
  events.n_replies = 0;
  n_messages = server_events.messages->len;
  g_assert_cmpstr (g_ptr_array_index (server_events.messages, n_messages - 1), ==, "request");

  /* Had the 20 ms timer survived, it would have fired by now, and the
   * server would have its ping, and answer it, before the next request. */
  wait_for_timers_armed_before (20);
  assert_round_trip (client, "request", "pong");
  g_assert_cmpuint (events.n_replies, ==, 0);
  g_assert_cmpuint (server_events.messages->len, ==, n_messages + 1);

  /* A custom ping message reaches the server. */
  rabc_client_set_ping_message (client, "hello?");
  g_assert_cmpstr (rabc_client_get_ping_message (client), ==, "hello?");
  rabc_client_set_ping_interval (client, 10);
  while (events.n_replies < 1)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (server_events.messages->len, >, n_messages + 1);
  g_assert_cmpstr (g_ptr_array_index (server_events.messages, n_messages + 1), ==, "hello?");

  g_assert_cmpuint (events.n_closed, ==, 0);
  events_clear (&events);
  g_ptr_array_unref (server_events.messages);
}

static void
test_default_properties (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autoptr(RabcClient) client = rabc_client_new_sync (fixture->path, NULL, NULL);

  g_assert_nonnull (client);
  g_assert_cmpuint (rabc_client_get_ping_interval (client), ==, 2000);
  g_assert_cmpuint (rabc_client_get_max_message_size (client), ==, 1048576);
  g_assert_cmpuint (rabc_client_get_timeout (client), ==, 5000);
  g_assert_cmpstr (rabc_client_get_ping_message (client), ==, "ping");
  g_assert_cmpstr (rabc_server_get_reply (server), ==, "pong");
  g_assert_cmpuint (rabc_server_get_max_message_size (server), ==, 1048576);
  g_assert_true (rabc_server_get_listening (server));
}

/* An echo peer: replies to every message with the message itself. */
static void
echo_peer (int      fd,
           gpointer user_data)
{
  char *text;

  while ((text = rabc_test_read_frame (fd)) != NULL)
    {
      rabc_test_write_frame (fd, text, strlen (text));
      g_free (text);
    }
}

/* An echo peer that answers in batches: it reads batches[0] messages and
 * sends all their replies with one send(2), then batches[1]..., and after
 * the 0 that ends the list it answers each message on its own.  The bytes
 * of one send(2) reach the client's socket at once, so the client reads a
 * batch in one go, however the threads are scheduled. */
static void
batch_echo_peer (int      fd,
                 gpointer user_data)
{
  const guint *batches = user_data;

  for (; *batches > 0; batches++)
    {
      g_autoptr(GByteArray) replies = g_byte_array_new ();

      for (guint i = 0; i < *batches; i++)
        {
          g_autofree char *text = rabc_test_read_frame (fd);

          if (text == NULL)
            return;
          rabc_frame_encode (replies, text, strlen (text));
        }
      g_assert_cmpint (send (fd, replies->data, replies->len, MSG_NOSIGNAL), ==, replies->len);
    }

  echo_peer (fd, NULL);
}

static void
test_fifo_with_pings (Fixture       *fixture,
                      gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, echo_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 1);
  ClientEvents events = { 0 };
  Request requests[200] = { { 0 } };

  watch_client (client, &events);
  events.replies = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_autofree char *text = g_strdup_printf ("request %u", i);

      rabc_client_send_async (client, text, NULL, on_send_done, &requests[i]);
      /* The 1 ms ping timer fires in each pause: pings interleave. */
      if (i % 10 == 0)
        wait_for_timers_armed_before (1);
    }

  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_autofree char *expected = g_strdup_printf ("request %u", i);

      rabc_test_wait_for (&requests[i].done, 5000);
      g_assert_no_error (requests[i].error);
      g_assert_cmpstr (requests[i].reply, ==, expected);
      request_clear (&requests[i]);
    }

  /* The pings of the 20 pauses were answered before the last request. */
  g_assert_cmpuint (events.n_replies, >=, 20);
  for (guint i = 0; i < events.replies->len; i++)
    g_assert_cmpstr (g_ptr_array_index (events.replies, i), ==, "ping");

  /* Synchronous calls take their turn in the same queue. */
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *reply = rabc_client_send_sync (client, "sync", NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (reply, ==, "sync");
  }

  rabc_client_close (client);
  rabc_test_peer_free (peer);
  events_clear (&events);
}

static void
test_silent_client_does_not_block (Fixture       *fixture,
                                   gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  guint64 header = 100;
  int silent = rabc_test_connect_raw (fixture->path);
  int half = rabc_test_connect_raw (fixture->path);
  int greedy = rabc_test_connect_raw (fixture->path);
  Request request = { 0 };

  /* One connects and says nothing, one stops in the middle of a frame, one
   * sends many messages and never reads the replies. */
  rabc_test_write_all (half, &header, sizeof header);
  rabc_test_write_all (half, "abc", 3);
  {
    g_autoptr(GByteArray) frames = g_byte_array_new ();
    guint64 len = 4;

    for (guint i = 0; i < 1000; i++)
      {
        g_byte_array_append (frames, (const guint8 *) &len, sizeof len);
        g_byte_array_append (frames, (const guint8 *) "ping", 4);
      }
    rabc_test_write_all (greedy, frames->data, frames->len);
  }

  for (guint i = 0; i < 20; i++)
    {
      rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
      rabc_test_wait_for (&request.done, 5000);
      g_assert_no_error (request.error);
      g_assert_cmpstr (request.reply, ==, "pong");
      request_clear (&request);
    }
  g_assert_cmpuint (rabc_server_get_n_clients (server), ==, 4);

  close (silent);
  close (half);
  close (greedy);
}

static void
test_many_clients (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  RabcClient *clients[50];
  Request requests[50] = { { 0 } };

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    clients[i] = connect_client (fixture->path, 0);
  while (rabc_server_get_n_clients (server) < G_N_ELEMENTS (clients))
    g_main_context_iteration (NULL, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    rabc_client_send_async (clients[i], "ping", NULL, on_send_done, &requests[i]);
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      rabc_test_wait_for (&requests[i].done, 5000);
      g_assert_cmpstr (requests[i].reply, ==, "pong");
      request_clear (&requests[i]);
    }

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    g_object_unref (clients[i]);
  while (rabc_server_get_n_clients (server) > 0)
    g_main_context_iteration (NULL, TRUE);
}

static void
test_server_signals (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  ServerEvents events = { 0 };
  RabcClient *client;
  Request request = { 0 };

  events.messages = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (server, "client-connected", G_CALLBACK (on_client_connected), &events);
  g_signal_connect (server, "client-disconnected", G_CALLBACK (on_client_disconnected), &events);
  g_signal_connect (server, "message-received", G_CALLBACK (on_message_received), &events);
  g_signal_connect (server, "notify::n-clients", G_CALLBACK (on_notify_n_clients), &events);

  client = connect_client (fixture->path, 0);
  rabc_client_send_async (client, "caf\xc3\xa9", NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_cmpstr (request.reply, ==, "pong");
  request_clear (&request);

  g_assert_cmpuint (events.connected, ==, 1);
  g_assert_cmpuint (rabc_server_get_n_clients (server), ==, 1);
  g_assert_cmpuint (events.messages->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (events.messages, 0), ==, "caf\xc3\xa9");

  g_object_unref (client);
  while (events.disconnected < 1)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (rabc_server_get_n_clients (server), ==, 0);
  g_assert_cmpuint (events.n_clients_notify, ==, 2);

  g_ptr_array_unref (events.messages);
}

static gboolean
on_raw_readable (int           fd,
                 GIOCondition  condition,
                 gpointer      user_data)
{
  gboolean *hung_up = user_data;
  char buffer[64];

  if (recv (fd, buffer, sizeof buffer, MSG_DONTWAIT) == 0)
    {
      *hung_up = TRUE;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* Sends @bytes on a raw connection and checks that the server hangs up, and
 * that a well-behaved client is still answered. */
static void
assert_disconnected_for (RabcServer   *server,
                         const char   *path,
                         const guint8 *bytes,
                         gsize         len)
{
  g_autoptr(RabcClient) client = connect_client (path, 0);
  int fd = rabc_test_connect_raw (path);
  Request request = { 0 };
  gboolean hung_up = FALSE;

  rabc_test_write_all (fd, bytes, len);
  /* The server runs in this thread: watch for the end of the stream. */
  g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_raw_readable, &hung_up);
  rabc_test_wait_for (&hung_up, 5000);
  close (fd);

  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_no_error (request.error);
  g_assert_cmpstr (request.reply, ==, "pong");
  request_clear (&request);
  g_assert_cmpuint (rabc_server_get_n_clients (server), ==, 1);
}

static void
test_protocol_violations (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  guint64 oversize = RABC_DEFAULT_MAX_MESSAGE_SIZE;
  guint64 huge = G_GUINT64_CONSTANT (1) << 63;
  guint8 bad_utf8[8 + 2] = { 0 };

  bad_utf8[0] = 2;   /* little-endian host assumed by the test data */
  bad_utf8[8] = 0xff;
  bad_utf8[9] = 0xfe;
  if (G_BYTE_ORDER == G_BIG_ENDIAN)
    {
      guint64 two = 2;
      memcpy (bad_utf8, &two, 8);
    }

  assert_disconnected_for (server, fixture->path, (const guint8 *) &oversize, sizeof oversize);
  assert_disconnected_for (server, fixture->path, (const guint8 *) &huge, sizeof huge);
  assert_disconnected_for (server, fixture->path, bad_utf8, sizeof bad_utf8);
}

static void
test_message_too_large (Fixture       *fixture,
                        gconstpointer  data)
{
  RabcTestServerThread *thread = rabc_test_server_thread_new (fixture->path);
  g_autoptr(RabcClient) client = rabc_client_new_sync (fixture->path, NULL, NULL);
  g_autofree char *big = g_strnfill (2000000, 'x');
  g_autofree char *exact = g_strnfill (RABC_DEFAULT_MAX_MESSAGE_SIZE, 'x');
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;
  Request request = { 0 };

  g_assert_null (rabc_client_send_sync (client, big, NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
  g_assert_cmpstr (error->message, ==, "message of 2000000 bytes exceeds the maximum of 1048576");
  g_clear_error (&error);

  g_assert_null (rabc_client_send_sync (client, exact, NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
  g_clear_error (&error);

  rabc_client_send_async (client, big, NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_error (request.error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
  request_clear (&request);

  /* Invalid UTF-8 is refused before it is sent. */
  g_assert_null (rabc_client_send_sync (client, "\xff", NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_DATA);
  g_clear_error (&error);

  /* The connection is still good. */
  reply = rabc_client_send_sync (client, "ping", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (reply, ==, "pong");

  rabc_client_close (client);
  rabc_test_server_thread_free (thread);
}

static void
test_close_with_pending (Fixture       *fixture,
                         gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, rabc_test_silent_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  ClientEvents events = { 0 };
  Request requests[3] = { { 0 } };
  g_autoptr(GError) error = NULL;

  watch_client (client, &events);
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    rabc_client_send_async (client, "ping", NULL, on_send_done, &requests[i]);
  rabc_test_run_for (20);

  rabc_client_close (client);
  g_assert_false (rabc_client_get_connected (client));
  g_assert_cmpuint (events.n_closed, ==, 1);
  g_assert_null (events.closed_error);
  g_assert_cmpuint (events.n_connected_notify, ==, 1);

  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      rabc_test_wait_for (&requests[i].done, 5000);
      g_assert_error (requests[i].error, RABC_ERROR, RABC_ERROR_CLOSED);
      request_clear (&requests[i]);
    }

  /* Closing again does nothing; sending fails clearly. */
  rabc_client_close (client);
  g_assert_cmpuint (events.n_closed, ==, 1);
  g_assert_null (rabc_client_send_sync (client, "ping", NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_CLOSED);
  g_clear_error (&error);
  rabc_client_send_async (client, "ping", NULL, on_send_done, &requests[0]);
  rabc_test_wait_for (&requests[0].done, 5000);
  g_assert_error (requests[0].error, RABC_ERROR, RABC_ERROR_CLOSED);
  request_clear (&requests[0]);

  rabc_test_peer_free (peer);
  events_clear (&events);
}

/* A peer that reads one message and hangs up. */
static void
vanishing_peer (int      fd,
                gpointer user_data)
{
  g_free (rabc_test_read_frame (fd));
}

static void
test_server_gone (Fixture       *fixture,
                  gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, vanishing_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  ClientEvents events = { 0 };
  Request request = { 0 };

  watch_client (client, &events);
  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_error (request.error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_nonnull (strstr (request.error->message, fixture->path));
  request_clear (&request);

  g_assert_cmpuint (events.n_closed, ==, 1);
  g_assert_error (events.closed_error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_false (rabc_client_get_connected (client));

  rabc_test_peer_free (peer);
  events_clear (&events);
}

static void
test_server_gone_sync (Fixture       *fixture,
                       gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, vanishing_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  g_autoptr(GError) error = NULL;

  g_assert_null (rabc_client_send_sync (client, "ping", NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_false (rabc_client_get_connected (client));

  rabc_test_peer_free (peer);
}

static void
test_timeout (Fixture       *fixture,
              gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, rabc_test_silent_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  ClientEvents events = { 0 };
  g_autoptr(GError) error = NULL;
  Request request = { 0 };
  gint64 start;

  watch_client (client, &events);
  rabc_client_set_timeout (client, 100);

  start = g_get_monotonic_time ();
  g_assert_null (rabc_client_send_sync (client, "ping", NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 100 * 1000);
  g_clear_error (&error);

  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_error (request.error, RABC_ERROR, RABC_ERROR_TIMED_OUT);
  request_clear (&request);

  /* Requests that time out leave the connection open. */
  g_assert_true (rabc_client_get_connected (client));
  g_assert_cmpuint (events.n_closed, ==, 0);

  /* An unanswered automatic ping means the daemon is gone. */
  rabc_client_set_ping_interval (client, 10);
  rabc_test_wait_for (&events.closed, 5000);
  g_assert_error (events.closed_error, RABC_ERROR, RABC_ERROR_TIMED_OUT);
  g_assert_false (rabc_client_get_connected (client));

  rabc_test_peer_free (peer);
  events_clear (&events);
}

static void
cancel_in_thread (gpointer data)
{
  g_cancellable_cancel (data);
}

static void
test_cancel (Fixture       *fixture,
             gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, echo_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;
  Request request = { 0 };
  GThread *thread;

  /* Already cancelled. */
  g_cancellable_cancel (cancellable);
  g_assert_null (rabc_client_send_sync (client, "a", cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  rabc_client_send_async (client, "b", cancellable, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_error (request.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  request_clear (&request);

  /* Cancelled while waiting, from another thread; the reply that still
   * comes is dropped and the next request gets its own. */
  g_cancellable_reset (cancellable);
  rabc_client_send_async (client, "c", cancellable, on_send_done, &request);
  thread = g_thread_new ("cancel", (GThreadFunc) (void (*) (void)) cancel_in_thread, cancellable);
  g_thread_join (thread);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_error (request.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  request_clear (&request);

  reply = rabc_client_send_sync (client, "d", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (reply, ==, "d");

  rabc_client_close (client);
  rabc_test_peer_free (peer);
}

static void
bad_utf8_peer (int      fd,
               gpointer user_data)
{
  g_free (rabc_test_read_frame (fd));
  rabc_test_write_frame (fd, "\xff\xfe", 2);
  rabc_test_read_until_eof (fd, 5000);
}

static void
oversize_peer (int      fd,
               gpointer user_data)
{
  guint64 header = RABC_DEFAULT_MAX_MESSAGE_SIZE;

  g_free (rabc_test_read_frame (fd));
  rabc_test_write_all (fd, &header, sizeof header);
  rabc_test_read_until_eof (fd, 5000);
}

static void
unsolicited_peer (int      fd,
                  gpointer user_data)
{
  rabc_test_write_frame (fd, "surprise", 8);
  rabc_test_read_until_eof (fd, 5000);
}

static void
nul_reply_peer (int      fd,
                gpointer user_data)
{
  char *text;

  while ((text = rabc_test_read_frame (fd)) != NULL)
    {
      if (strcmp (text, "nul") == 0)
        rabc_test_write_frame (fd, "a\0b", 3);
      else
        rabc_test_write_frame (fd, text, strlen (text));
      g_free (text);
    }
}

static void
mid_frame_peer (int      fd,
                gpointer user_data)
{
  guint64 header = 10;

  g_free (rabc_test_read_frame (fd));
  rabc_test_write_all (fd, &header, sizeof header);
  rabc_test_write_all (fd, "pon", 3);
}

static void
assert_peer_fault (const char       *path,
                   RabcTestPeerFunc  func,
                   GQuark            domain,
                   int               code,
                   gboolean          send_first)
{
  RabcTestPeer *peer = rabc_test_peer_new (path, func, NULL);
  g_autoptr(RabcClient) client = connect_client (path, 0);
  ClientEvents events = { 0 };
  Request request = { 0 };

  watch_client (client, &events);
  if (send_first)
    {
      rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
      rabc_test_wait_for (&request.done, 5000);
      g_assert_error (request.error, domain, code);
      request_clear (&request);
    }
  rabc_test_wait_for (&events.closed, 5000);
  g_assert_error (events.closed_error, domain, code);
  g_assert_cmpuint (events.n_closed, ==, 1);
  g_assert_false (rabc_client_get_connected (client));

  g_clear_object (&client);
  rabc_test_peer_free (peer);
  events_clear (&events);
}

static void
test_client_faults (Fixture       *fixture,
                    gconstpointer  data)
{
  assert_peer_fault (fixture->path, bad_utf8_peer, RABC_ERROR, RABC_ERROR_INVALID_DATA, TRUE);
  assert_peer_fault (fixture->path, oversize_peer, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE, TRUE);
  assert_peer_fault (fixture->path, unsolicited_peer, RABC_ERROR, RABC_ERROR_INVALID_DATA, FALSE);
  assert_peer_fault (fixture->path, mid_frame_peer, RABC_ERROR, RABC_ERROR_IPC_CONNECTION, TRUE);
}

static void
test_nul_in_reply (Fixture       *fixture,
                   gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, nul_reply_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;

  g_assert_null (rabc_client_send_sync (client, "nul", NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_DATA);
  reply = rabc_client_send_sync (client, "after", NULL, NULL);
  g_assert_cmpstr (reply, ==, "after");

  rabc_client_close (client);
  rabc_test_peer_free (peer);
}

static void
on_reply_close (RabcClient *client,
                const char *reply,
                gboolean   *done)
{
  rabc_client_close (client);
  *done = TRUE;
}

static void
on_reply_unref (RabcClient *client,
                const char *reply,
                gboolean   *done)
{
  /* Once: other replies of the same read may still be handed out. */
  g_signal_handlers_disconnect_by_func (client, on_reply_unref, done);
  g_object_unref (client);
  *done = TRUE;
}

typedef struct {
  RabcClient   *client;
  ClientEvents *events;
} DropOnMessage;

/* Drops the client while the server handles one of its pings: that ping
 * is on its way, unanswered.  Counts only what comes from then on. */
static void
on_message_drop_client (RabcServer    *server,
                        const char    *message,
                        DropOnMessage *drop)
{
  if (drop->client == NULL)
    return;

  *drop->events = (ClientEvents) { 0 };
  g_clear_object (&drop->client);
}

static void
on_client_disconnected_flag (RabcServer *server,
                             RabcPeer   *peer,
                             gboolean   *disconnected)
{
  *disconnected = TRUE;
}

/* Waits until @server has seen every client hang up, and then until any
 * timer of @ping_interval a client had would have fired.  The server reads
 * every request before it sees the end of the stream and answers in order,
 * so every reply that could still reach a client has been sent by then; a
 * client that kept its socket open fails the wait. */
static void
wait_until_hung_up (RabcServer *server,
                    guint       ping_interval)
{
  gboolean disconnected = FALSE;
  gulong id = g_signal_connect (server, "client-disconnected",
                                G_CALLBACK (on_client_disconnected_flag), &disconnected);

  while (rabc_server_get_n_clients (server) > 0)
    {
      disconnected = FALSE;
      rabc_test_wait_for (&disconnected, 5000);
    }
  g_signal_handler_disconnect (server, id);
  wait_for_timers_armed_before (ping_interval);
}

static void
test_unref_and_reentrancy (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  RabcClient *client;
  RabcClient *alive;
  Request request = { 0 };
  gboolean done = FALSE;
  ClientEvents events = { 0 };
  DropOnMessage drop = { NULL, &events };
  gulong id;

  /* Dropped while a ping is on the way: the client goes at once, and
   * nothing fires afterwards, neither a signal nor a callback nor a source
   * of its own (valgrind sees those). */
  drop.client = alive = connect_client (fixture->path, 1);
  g_object_add_weak_pointer (G_OBJECT (alive), (gpointer *) &alive);
  watch_client (drop.client, &events);
  id = g_signal_connect (server, "message-received", G_CALLBACK (on_message_drop_client), &drop);
  while (drop.client != NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_null (alive);
  wait_until_hung_up (server, 1);
  g_signal_handler_disconnect (server, id);
  g_assert_cmpuint (events.n_replies, ==, 0);
  g_assert_cmpuint (events.n_closed, ==, 0);
  g_assert_cmpuint (events.n_notify, ==, 0);
  g_assert_cmpuint (events.n_connected_notify, ==, 0);

  /* Dropped with a request pending: the request holds the client. */
  client = connect_client (fixture->path, 0);
  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  g_object_unref (client);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_cmpstr (request.reply, ==, "pong");
  request_clear (&request);

  /* Closed, and dropped, from its own signal handlers. */
  client = connect_client (fixture->path, 1);
  g_signal_connect (client, "reply", G_CALLBACK (on_reply_close), &done);
  rabc_test_wait_for (&done, 5000);
  g_assert_false (rabc_client_get_connected (client));
  g_object_unref (client);

  /* Dropped from ::reply: it is gone once the emission is over. */
  done = FALSE;
  client = alive = connect_client (fixture->path, 1);
  g_object_add_weak_pointer (G_OBJECT (alive), (gpointer *) &alive);
  g_signal_connect (client, "reply", G_CALLBACK (on_reply_unref), &done);
  rabc_test_wait_for (&done, 5000);
  g_assert_null (alive);
  wait_until_hung_up (server, 1);
}

static void
on_message_stop (RabcServer *server,
                 const char *message,
                 gboolean   *done)
{
  rabc_server_stop (server);
  *done = TRUE;
}

static void
test_server_stop_from_handler (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  ClientEvents events = { 0 };
  Request request = { 0 };
  gboolean done = FALSE;

  watch_client (client, &events);
  g_signal_connect (server, "message-received", G_CALLBACK (on_message_stop), &done);
  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  rabc_test_wait_for (&done, 5000);
  g_assert_false (rabc_server_get_listening (server));
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));

  rabc_test_wait_for (&request.done, 5000);
  g_assert_error (request.error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  request_clear (&request);
  g_assert_error (events.closed_error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  events_clear (&events);
}

/* Two requests in one write, and a handler that stops the server at the
 * first.  The first is longer than what one read takes between frames, so
 * the second is still in the socket when the handler runs: the stop must
 * not read and answer it in the place of the first. */
static void
test_server_stop_from_handler_pipelined (Fixture       *fixture,
                                         gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  guint8 frames[8 + 2000 + 8 + 4];
  g_autofree char *first = g_strnfill (2000, 'a');
  gboolean done = FALSE;
  g_autofree char *reply = NULL;
  int fd;

  rabc_frame_write (frames, first, 2000);
  rabc_frame_write (frames + 8 + 2000, "ping", 4);
  g_signal_connect (server, "message-received", G_CALLBACK (on_message_stop), &done);
  fd = rabc_test_connect_raw (fixture->path);
  rabc_test_write_all (fd, frames, sizeof frames);
  rabc_test_wait_for (&done, 5000);
  g_assert_false (rabc_server_get_listening (server));

  /* Neither is answered: no reply stands in for the one being handled. */
  reply = rabc_test_read_frame (fd);
  g_assert_null (reply);
  close (fd);
}

static void
on_message_count_empty (RabcServer *server,
                        const char *message,
                        guint      *n_empty)
{
  if (*message == '\0')
    (*n_empty)++;
}

/* 64 KiB of zero-length messages, 8192 of them, each answered with a
 * reply of 60 KiB, from a client that reads none: the replies to one read
 * are bounded (128 KiB), and the client is not read again while 1 MiB
 * waits for it.  Answering a whole read would queue 480 MiB. */
static void
test_server_replies_to_one_read (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (fixture->path);
  g_autofree char *reply = g_strnfill (60 * 1024, 'r');
  g_autofree guint8 *zeros = g_malloc0 (64 * 1024);
  g_autoptr(RabcClient) probe = NULL;
  g_autoptr(GError) error = NULL;
  gsize rss_before, rss_after;
  gboolean peak_known;
  guint n_answered = 0;
  guint n_before;
  int fd;

  rabc_server_set_reply (server, reply);
  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  g_signal_connect (server, "message-received", G_CALLBACK (on_message_count_empty), &n_answered);

  probe = connect_client (fixture->path, 0);
  fd = rabc_test_connect_raw (fixture->path);
  /* The peak, where the kernel lets us reset it (proc(5), clear_refs). */
  peak_known = rabc_test_reset_peak_rss (getpid ());
  rss_before = rabc_test_read_status_kib (getpid (), "VmRSS:");
  rabc_test_write_all (fd, zeros, 64 * 1024);
  while (rabc_server_get_n_clients (server) < 2)
    g_main_context_iteration (NULL, TRUE);

  /* The server reads the probe's request in a round where the silent
   * client, whose requests are waiting, is read too unless its replies
   * stop it: go on until a round trip reads none of them. */
  do
    {
      n_before = n_answered;
      assert_round_trip (probe, "probe", reply);
    }
  while (n_answered != n_before);
  rss_after = rabc_test_read_status_kib (getpid (), peak_known ? "VmHWM:" : "VmRSS:");

  g_test_message ("8192 requests for a 60 KiB reply in one write, none read: %u answered, %s "
                  "%+" G_GINT64_FORMAT " KiB", n_answered, peak_known ? "peak" : "resident",
                  (gint64) rss_after - (gint64) rss_before);
  /* It stopped at the limit, not before: 1 MiB of replies waits. */
  g_assert_cmpuint (n_answered, >, 1024 / 60);
  g_assert_cmpint ((gint64) rss_after - (gint64) rss_before, <, 16 * 1024);
  g_assert_cmpuint (rabc_server_get_n_clients (server), ==, 2);
  close (fd);
}

static void
on_disconnected_unref (RabcServer *server,
                       RabcPeer   *peer,
                       gboolean   *done)
{
  g_object_unref (server);
  *done = TRUE;
}

/* The frame timeout drops a client, and the handler of
 * ::client-disconnected drops the last reference to the server: nothing
 * may touch the server after that. */
static void
test_server_unref_in_timeout_handler (Fixture       *fixture,
                                      gconstpointer  data)
{
  RabcServer *server = g_object_new (RABC_TYPE_SERVER, "socket-path", fixture->path,
                                     "frame-timeout", 50, NULL);
  g_autoptr(GError) error = NULL;
  gboolean done = FALSE;
  guint64 header = 4;
  int fd;

  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  g_signal_connect (server, "client-disconnected", G_CALLBACK (on_disconnected_unref), &done);

  fd = rabc_test_connect_raw (fixture->path);
  rabc_test_write_all (fd, &header, 3);
  rabc_test_wait_for (&done, 5000);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
  close (fd);
}

/* Connected swapped, so that it fits any signal. */
static void
count_signal (guint *count)
{
  (*count)++;
}

/* Disposing a server with a request waiting answers it, and tells nobody:
 * no signal reaches the handlers of an object being destroyed. */
static void
test_server_dispose_is_quiet (Fixture       *fixture,
                              gconstpointer  data)
{
  RabcServer *server = start_server (fixture->path);
  g_autofree char *reply = NULL;
  guint n_signals = 0;
  int fd;

  fd = rabc_test_connect_raw (fixture->path);
  while (rabc_server_get_n_clients (server) == 0)
    g_main_context_iteration (NULL, TRUE);

  g_signal_connect_swapped (server, "message-received", G_CALLBACK (count_signal), &n_signals);
  g_signal_connect_swapped (server, "client-disconnected", G_CALLBACK (count_signal), &n_signals);
  g_signal_connect_swapped (server, "notify", G_CALLBACK (count_signal), &n_signals);
  rabc_test_write_frame (fd, "ping", 4);
  g_object_unref (server);

  g_assert_cmpuint (n_signals, ==, 0);
  reply = rabc_test_read_frame (fd);
  g_assert_cmpstr (reply, ==, "pong");
  g_clear_pointer (&reply, g_free);
  reply = rabc_test_read_frame (fd);
  g_assert_null (reply);
  close (fd);
}

static void
test_server_restart (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autoptr(GError) error = NULL;

  g_assert_false (rabc_server_start (server, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  rabc_server_stop (server);
  rabc_server_stop (server);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

static gboolean
is_socket (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0 && S_ISSOCK (st.st_mode);
}

static void
make_stale_socket (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);

  strcpy (addr.sun_path, path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  close (fd);   /* the file stays, nobody listens */
}

static void
test_socket_file_live (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(RabcServer) first = start_server (fixture->path);
  g_autoptr(RabcServer) second = rabc_server_new (fixture->path);
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_false (rabc_server_start (second, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_ADDRESS_IN_USE);
  {
    g_autofree char *expected = g_strdup_printf ("a server is already listening on %s, or starting: it holds %s.lock",
                                                 fixture->path, fixture->path);
    g_assert_cmpstr (error->message, ==, expected);
  }
  g_clear_object (&second);

  /* The first server is untouched. */
  g_assert_true (is_socket (fixture->path));
  client = connect_client (fixture->path, 0);
  g_clear_object (&client);

  rabc_server_stop (first);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

static void
test_socket_file_stale (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(RabcServer) server = NULL;
  g_autoptr(GError) error = NULL;

  make_stale_socket (fixture->path);
  g_assert_true (is_socket (fixture->path));

  server = rabc_server_new (fixture->path);
  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  g_clear_object (&server);   /* disposing stops it */
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

static void
assert_refused_and_kept (const char *path)
{
  g_autoptr(RabcServer) server = rabc_server_new (path);
  g_autoptr(GError) error = NULL;
  struct stat before, after;

  g_assert_cmpint (lstat (path, &before), ==, 0);
  g_assert_false (rabc_server_start (server, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "is not a socket"));
  g_assert_cmpint (lstat (path, &after), ==, 0);
  g_assert_cmpint (before.st_ino, ==, after.st_ino);
  g_assert_cmpint (before.st_mode, ==, after.st_mode);
}

static void
test_socket_file_not_socket (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autofree char *target = g_build_filename (fixture->dir, "target", NULL);
  g_autofree char *stale = g_build_filename (fixture->dir, "stale.sock", NULL);
  g_autofree char *contents = NULL;

  /* A regular file. */
  g_assert_true (g_file_set_contents (fixture->path, "precious", -1, NULL));
  assert_refused_and_kept (fixture->path);
  g_assert_true (g_file_get_contents (fixture->path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "precious");
  g_unlink (fixture->path);

  /* A directory. */
  g_assert_cmpint (g_mkdir (fixture->path, 0700), ==, 0);
  assert_refused_and_kept (fixture->path);
  g_rmdir (fixture->path);

  /* Symbolic links: to a file, to nothing, to a stale socket. */
  g_assert_true (g_file_set_contents (target, "precious", -1, NULL));
  g_assert_cmpint (symlink (target, fixture->path), ==, 0);
  assert_refused_and_kept (fixture->path);
  g_assert_true (g_file_test (target, G_FILE_TEST_IS_REGULAR));
  g_unlink (fixture->path);

  g_assert_cmpint (symlink ("/nonexistent/target", fixture->path), ==, 0);
  assert_refused_and_kept (fixture->path);
  g_unlink (fixture->path);

  make_stale_socket (stale);
  g_assert_cmpint (symlink (stale, fixture->path), ==, 0);
  assert_refused_and_kept (fixture->path);
  g_assert_true (is_socket (stale));
  g_unlink (fixture->path);
}

static void
test_socket_file_replaced (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autofree char *contents = NULL;

  /* Someone else takes the path while the server runs: stop leaves their
   * file alone. */
  g_assert_cmpint (g_unlink (fixture->path), ==, 0);
  g_assert_true (g_file_set_contents (fixture->path, "theirs", -1, NULL));
  rabc_server_stop (server);
  g_assert_true (g_file_get_contents (fixture->path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "theirs");
}

static void
test_socket_file_lock (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autofree char *lock_path = g_strconcat (fixture->path, ".lock", NULL);
  g_autofree char *target = g_build_filename (fixture->dir, "target", NULL);
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autoptr(RabcServer) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  int fd;

  /* The lock file exists while the server runs, and goes with it. */
  g_assert_true (g_file_test (lock_path, G_FILE_TEST_IS_REGULAR));
  rabc_server_stop (server);
  g_assert_false (g_file_test (lock_path, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));

  /* Whoever holds the lock owns the path, even before it has a socket:
   * the server neither probes nor binds, and leaves the lock file. */
  fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX), ==, 0);
  second = rabc_server_new (fixture->path);
  g_assert_false (rabc_server_start (second, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_ADDRESS_IN_USE);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (lock_path, G_FILE_TEST_IS_REGULAR));
  g_clear_error (&error);

  /* A lock file left by a server that is gone is no obstacle. */
  close (fd);
  g_assert_true (rabc_server_start (second, &error));
  g_assert_no_error (error);
  rabc_server_stop (second);
  g_assert_false (g_file_test (lock_path, G_FILE_TEST_EXISTS));

  /* A symbolic link in place of the lock file is not followed. */
  g_assert_true (g_file_set_contents (target, "precious", -1, NULL));
  g_assert_cmpint (symlink (target, lock_path), ==, 0);
  g_assert_false (rabc_server_start (second, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "symbolic link"));
  g_assert_true (g_file_get_contents (target, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "precious");
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
  g_unlink (lock_path);
}

static void
test_server_bad_path (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *long_path = g_strnfill (200, 'a');
  g_autoptr(RabcServer) server = rabc_server_new (long_path);
  g_autoptr(RabcServer) nodir = rabc_server_new ("/nonexistent/dir/rabc.sock");
  g_autoptr(GError) error = NULL;

  g_assert_false (rabc_server_start (server, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "too long"));
  g_clear_error (&error);

  g_assert_false (rabc_server_start (nodir, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "/nonexistent/dir/rabc.sock"));
}

static int
listening_socket (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);

  strcpy (addr.sun_path, path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 8), ==, 0);
  return fd;
}

static void
test_server_start_with_socket_fd (Fixture       *fixture,
                                  gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (NULL);
  g_autoptr(RabcServer) other = rabc_server_new (NULL);
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(GError) error = NULL;
  int fd = listening_socket (fixture->path);
  int not_listening = socket (AF_UNIX, SOCK_STREAM, 0);
  int pipe_fds[2];
  Request request = { 0 };
  struct stat before, after;

  g_assert_cmpint (pipe (pipe_fds), ==, 0);
  g_assert_false (rabc_server_start_with_socket_fd (other, pipe_fds[0], &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (rabc_server_start_with_socket_fd (other, not_listening, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  close (pipe_fds[0]);
  close (pipe_fds[1]);
  close (not_listening);

  g_assert_cmpint (lstat (fixture->path, &before), ==, 0);
  g_assert_true (rabc_server_start_with_socket_fd (server, fd, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (rabc_server_get_socket_path (server), ==, fixture->path);

  client = connect_client (fixture->path, 0);
  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_cmpstr (request.reply, ==, "pong");
  request_clear (&request);

  /* The socket file belongs to whoever made it. */
  rabc_server_stop (server);
  g_assert_cmpint (lstat (fixture->path, &after), ==, 0);
  g_assert_cmpint (before.st_ino, ==, after.st_ino);
}

static void
test_server_socket_mode (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (fixture->path);
  g_autoptr(GError) error = NULL;
  struct stat st;

  g_assert_cmpuint (rabc_server_get_socket_mode (server), ==, 0600);
  g_assert_true (rabc_server_start (server, &error));
  g_assert_cmpint (lstat (fixture->path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 0777, ==, 0600);
  rabc_server_stop (server);

  rabc_server_set_socket_mode (server, 0660);
  g_assert_true (rabc_server_start (server, &error));
  g_assert_cmpint (lstat (fixture->path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 0777, ==, 0660);
}

static void
test_auto_reconnect (Fixture       *fixture,
                     gconstpointer  data)
{
  RabcServer *server = start_server (fixture->path);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 20);
  ClientEvents events = { 0 };
  guint replies;

  g_assert_false (rabc_client_get_auto_reconnect (client));
  rabc_client_set_auto_reconnect (client, TRUE);
  watch_client (client, &events);
  while (events.n_replies < 2)
    g_main_context_iteration (NULL, TRUE);

  /* The daemon goes away... */
  g_object_unref (server);
  rabc_test_wait_for (&events.closed, 5000);
  g_assert_error (events.closed_error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_false (rabc_client_get_connected (client));
  g_assert_cmpuint (events.n_connected_notify, ==, 1);
  /* The first attempt comes 100 ms after the failure: it has been made,
   * and has failed, once a 100 ms timer armed now has fired. */
  wait_for_timers_armed_before (100);
  g_assert_false (rabc_client_get_connected (client));
  g_assert_cmpuint (events.n_connected_notify, ==, 1);

  /* ...and comes back: the client reconnects and pings resume. */
  server = start_server (fixture->path);
  while (!rabc_client_get_connected (client))
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (events.n_connected_notify, ==, 2);
  replies = events.n_replies;
  while (events.n_replies < replies + 2)
    g_main_context_iteration (NULL, TRUE);

  /* A local close stays closed: an attempt it started would come 100 ms
   * later, as the first after a failure does, and connect at once. */
  rabc_client_close (client);
  g_assert_cmpuint (events.n_connected_notify, ==, 3);
  wait_for_timers_armed_before (100);
  g_assert_false (rabc_client_get_connected (client));
  g_assert_cmpuint (events.n_connected_notify, ==, 3);
  g_assert_cmpuint (events.n_closed, ==, 2);

  g_object_unref (server);
  events_clear (&events);
}

static void
test_server_allowed_uids (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  g_autoptr(RabcClient) client = NULL;
  ClientEvents events = { 0 };
  Request request = { 0 };

  /* Another user only: this process is refused. */
  rabc_server_add_allowed_uid (server, getuid () + 1);
  client = connect_client (fixture->path, 0);
  watch_client (client, &events);
  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_error (request.error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  request_clear (&request);
  g_assert_cmpuint (rabc_server_get_n_clients (server), ==, 0);
  g_clear_object (&client);
  events_clear (&events);

  /* This user too: served. */
  rabc_server_add_allowed_uid (server, getuid ());
  client = connect_client (fixture->path, 0);
  rabc_client_send_async (client, "ping", NULL, on_send_done, &request);
  rabc_test_wait_for (&request.done, 5000);
  g_assert_cmpstr (request.reply, ==, "pong");
  request_clear (&request);
}

static void
test_server_stop_answers_owed (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(RabcServer) server = start_server (fixture->path);
  int fd = rabc_test_connect_raw (fixture->path);
  g_autoptr(GByteArray) frames = g_byte_array_new ();
  guint64 len = 4;
  guint n_replies = 0;
  char *reply;

  /* Let the server accept, but not read, then send three requests. */
  while (rabc_server_get_n_clients (server) == 0)
    g_main_context_iteration (NULL, TRUE);
  for (guint i = 0; i < 3; i++)
    {
      g_byte_array_append (frames, (const guint8 *) &len, sizeof len);
      g_byte_array_append (frames, (const guint8 *) "ping", 4);
    }
  rabc_test_write_all (fd, frames->data, frames->len);

  rabc_server_stop (server);
  while ((reply = rabc_test_read_frame (fd)) != NULL)
    {
      g_assert_cmpstr (reply, ==, "pong");
      g_free (reply);
      n_replies++;
    }
  g_assert_cmpuint (n_replies, ==, 3);
  close (fd);
}

typedef struct {
  Request  request;
  char    *nested_reply;
} NestedRequest;

/* Sends synchronously from a callback, while the read that answered the
 * callback's own request may still hold later replies. */
static void
on_send_done_send_sync (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  NestedRequest *nested = user_data;
  g_autoptr(GError) error = NULL;

  nested->request.reply = rabc_client_send_finish (RABC_CLIENT (source), result, &nested->request.error);
  nested->nested_reply = rabc_client_send_sync (RABC_CLIENT (source), "nested", NULL, &error);
  g_assert_no_error (error);
  nested->request.done = TRUE;
}

typedef struct {
  GPtrArray *replies;
  guint      depth;
  guint      max_depth;
} NestedFromReply;

static void
on_reply_send_sync (RabcClient      *client,
                    const char      *reply,
                    NestedFromReply *nested)
{
  g_autoptr(GError) error = NULL;
  char *text;

  nested->depth++;
  nested->max_depth = MAX (nested->max_depth, nested->depth);
  text = rabc_client_send_sync (client, "from-reply", NULL, &error);
  nested->depth--;

  g_assert_no_error (error);
  g_ptr_array_add (nested->replies, text);
}

static void
test_sync_from_callbacks (Fixture       *fixture,
                          gconstpointer  data)
{
  /* The three requests, the nested one, two pings, then one by one. */
  static const guint batches[] = { 3, 1, 2, 0 };
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, batch_echo_peer, (gpointer) batches);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  NestedFromReply nested = { g_ptr_array_new_with_free_func (g_free) };
  NestedRequest first = { { 0 } };
  Request second = { 0 };
  Request third = { 0 };

  /* The three replies come in one read, so the other two are waiting when
   * the first callback runs; the nested call must not take the second. */
  rabc_client_send_async (client, "first", NULL, on_send_done_send_sync, &first);
  rabc_client_send_async (client, "second", NULL, on_send_done, &second);
  rabc_client_send_async (client, "third", NULL, on_send_done, &third);
  rabc_test_wait_for (&first.request.done, 5000);
  rabc_test_wait_for (&second.done, 5000);
  rabc_test_wait_for (&third.done, 5000);
  g_assert_cmpstr (first.request.reply, ==, "first");
  g_assert_cmpstr (first.nested_reply, ==, "nested");
  g_assert_cmpstr (second.reply, ==, "second");
  g_assert_cmpstr (third.reply, ==, "third");
  request_clear (&first.request);
  g_free (first.nested_reply);
  request_clear (&second);
  request_clear (&third);

  /* The same from ::reply: the first two pings are answered in one read,
   * so the second's reply waits while the handler of the first calls. */
  g_signal_connect (client, "reply", G_CALLBACK (on_reply_send_sync), &nested);
  rabc_client_set_ping_interval (client, 1);
  while (nested.replies->len < 20)
    g_main_context_iteration (NULL, TRUE);
  rabc_client_set_ping_interval (client, 0);
  for (guint i = 0; i < nested.replies->len; i++)
    g_assert_cmpstr (g_ptr_array_index (nested.replies, i), ==, "from-reply");
  /* The waiting reply was handed out during the first handler's call. */
  g_assert_cmpuint (nested.max_depth, >=, 2);

  rabc_client_close (client);
  rabc_test_peer_free (peer);
  g_ptr_array_unref (nested.replies);
}

typedef struct {
  RabcClient *client;
  Request     requests[3];
} CloseFromCallback;

static void
on_send_done_close (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  CloseFromCallback *data = user_data;

  on_send_done (source, result, &data->requests[0]);
  rabc_client_close (data->client);
}

/* Sends three requests, the first of which closes the client from its
 * callback, and waits for the three outcomes. */
static void
send_three_and_close_from_first (CloseFromCallback *close_data)
{
  rabc_client_send_async (close_data->client, "first", NULL, on_send_done_close, close_data);
  rabc_client_send_async (close_data->client, "second", NULL, on_send_done,
                          &close_data->requests[1]);
  rabc_client_send_async (close_data->client, "third", NULL, on_send_done,
                          &close_data->requests[2]);

  for (guint i = 0; i < 3; i++)
    rabc_test_wait_for (&close_data->requests[i].done, 5000);
}

/* Reads three messages, answers the first and nothing more. */
static void
answer_first_peer (int      fd,
                   gpointer user_data)
{
  g_autofree char *first = rabc_test_read_frame (fd);

  for (guint i = 0; i < 2; i++)
    g_free (rabc_test_read_frame (fd));
  rabc_test_write_frame (fd, first, strlen (first));
  rabc_test_read_until_eof (fd, 30000);
}

static void
test_close_from_callback (Fixture       *fixture,
                          gconstpointer  data)
{
  static const guint batches[] = { 3, 0 };
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, answer_first_peer, NULL);
  RabcClient *client = connect_client (fixture->path, 0);
  CloseFromCallback close_data = { client };

  /* The first callback closes the client while the other two requests
   * await their replies: they fail. */
  send_three_and_close_from_first (&close_data);
  g_assert_cmpstr (close_data.requests[0].reply, ==, "first");
  g_assert_error (close_data.requests[1].error, RABC_ERROR, RABC_ERROR_CLOSED);
  g_assert_error (close_data.requests[2].error, RABC_ERROR, RABC_ERROR_CLOSED);
  for (guint i = 0; i < 3; i++)
    request_clear (&close_data.requests[i]);
  g_object_unref (client);
  rabc_test_peer_free (peer);

  /* All three replies come in one read, before the first callback closes
   * the client: a request whose reply was read is answered, close or not. */
  peer = rabc_test_peer_new (fixture->path, batch_echo_peer, (gpointer) batches);
  client = close_data.client = connect_client (fixture->path, 0);
  send_three_and_close_from_first (&close_data);
  g_assert_cmpstr (close_data.requests[0].reply, ==, "first");
  g_assert_cmpstr (close_data.requests[1].reply, ==, "second");
  g_assert_cmpstr (close_data.requests[2].reply, ==, "third");
  g_assert_false (rabc_client_get_connected (client));
  for (guint i = 0; i < 3; i++)
    request_clear (&close_data.requests[i]);
  g_object_unref (client);
  rabc_test_peer_free (peer);
}

/* A send_async callback that runs a nested main loop until a second
 * request is answered. */
typedef struct {
  Request  first;
  Request  nested;
} NestedLoop;

static void
on_send_done_nested_loop (GObject      *source,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  NestedLoop *data = user_data;

  on_send_done (source, result, &data->first);
  rabc_client_send_async (RABC_CLIENT (source), "nested", NULL, on_send_done, &data->nested);
  rabc_test_wait_for (&data->nested.done, 5000);
}

static void
test_nested_loop_in_callback (Fixture       *fixture,
                              gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, rabc_test_echo_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  NestedLoop nested = { { 0 } };

  rabc_client_send_async (client, "first", NULL, on_send_done_nested_loop, &nested);
  rabc_test_wait_for (&nested.first.done, 5000);
  g_assert_cmpstr (nested.first.reply, ==, "first");
  g_assert_no_error (nested.nested.error);
  g_assert_cmpstr (nested.nested.reply, ==, "nested");
  request_clear (&nested.first);
  request_clear (&nested.nested);

  rabc_client_close (client);
  rabc_test_peer_free (peer);
}

static void
test_null_ping_message (Fixture       *fixture,
                        gconstpointer  data)
{
  RabcServer *server = start_server (fixture->path);
  g_autoptr(GError) error = NULL;
  g_autoptr(RabcClient) client = NULL;
  g_autofree char *message = NULL;
  ClientEvents events = { 0 };

  /* NULL means the default, at construction and later. */
  client = g_initable_new (RABC_TYPE_CLIENT, NULL, &error,
                           "socket-path", fixture->path,
                           "ping-message", NULL,
                           "ping-interval", 1,
                           NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (rabc_client_get_ping_message (client), ==, "ping");
  rabc_client_set_ping_message (client, "other");
  rabc_client_set_ping_message (client, NULL);
  message = rabc_client_dup_ping_message (client);
  g_assert_cmpstr (message, ==, "ping");

  /* And pings go out with it. */
  watch_client (client, &events);
  while (events.n_replies < 2)
    g_main_context_iteration (NULL, TRUE);

  rabc_client_close (client);
  events_clear (&events);
  g_object_unref (server);
}

static void
test_send_bytes (Fixture       *fixture,
                 gconstpointer  data)
{
  static const char text[] = "a\0b\0";
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, rabc_test_echo_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  g_autoptr(GBytes) message = g_bytes_new_static (text, sizeof text - 1);
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text_reply = NULL;
  GAsyncResult *result = NULL;

  /* U+0000 goes through whole, both ways. */
  reply = rabc_client_send_bytes_sync (client, message, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (reply, message));
  g_clear_pointer (&reply, g_bytes_unref);

  rabc_client_send_bytes_async (client, message, NULL, rabc_test_store_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  reply = rabc_client_send_bytes_finish (client, result, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (reply, message));
  g_clear_object (&result);

  /* The text API on the same connection, after them. */
  text_reply = rabc_client_send_sync (client, "fine", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (text_reply, ==, "fine");

  /* Invalid UTF-8 is refused before anything is sent. */
  {
    g_autoptr(GBytes) invalid = g_bytes_new_static ("\xff", 1);
    g_autoptr(GBytes) none = rabc_client_send_bytes_sync (client, invalid, NULL, &error);

    g_assert_null (none);
    g_assert_nonnull (error);
    g_clear_error (&error);
  }

  rabc_client_close (client);
  rabc_test_peer_free (peer);
}

/* A listener that never accepts, with its backlog full: connecting to it
 * fails with EAGAIN until connections are accepted. */
typedef struct {
  int     listen_fd;
  GArray *queued;
} FullBacklog;

static void
full_backlog_init (FullBacklog *backlog,
                   const char  *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  backlog->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (bind (backlog->listen_fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (backlog->listen_fd, 0), ==, 0);
  backlog->queued = g_array_new (FALSE, FALSE, sizeof (int));

  for (;;)
    {
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

      if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
        {
          g_assert_cmpint (errno, ==, EAGAIN);
          close (fd);
          break;
        }
      g_array_append_val (backlog->queued, fd);
    }
}

/* Accepts and closes what is queued, making room for one more. */
static void
full_backlog_drain (FullBacklog *backlog)
{
  for (guint i = 0; i < backlog->queued->len; i++)
    {
      close (accept (backlog->listen_fd, NULL, NULL));
      close (g_array_index (backlog->queued, int, i));
    }
  g_array_set_size (backlog->queued, 0);
}

static void
full_backlog_clear (FullBacklog *backlog,
                    const char  *path)
{
  full_backlog_drain (backlog);
  g_array_unref (backlog->queued);
  close (backlog->listen_fd);
  unlink (path);
}

static gpointer
init_in_thread (gpointer client)
{
  GError *error = NULL;

  if (!g_initable_init (client, NULL, &error))
    return error;
  /* Done means connected. */
  g_assert_true (rabc_client_get_connected (client));
  return NULL;
}

static void
test_init_contract (Fixture       *fixture,
                    gconstpointer  data)
{
  FullBacklog backlog;
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  GThread *thread;
  GError *thread_error;

  /* A backlog that stays full past :timeout is a timeout, sync or not. */
  full_backlog_init (&backlog, fixture->path);
  client = g_object_new (RABC_TYPE_CLIENT, "socket-path", fixture->path, "timeout", 50, NULL);
  g_assert_false (g_initable_init (G_INITABLE (client), NULL, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_TIMED_OUT);
  g_clear_error (&error);
  g_clear_object (&client);

  client = g_object_new (RABC_TYPE_CLIENT, "socket-path", fixture->path, "timeout", 50, NULL);
  g_async_initable_init_async (G_ASYNC_INITABLE (client), G_PRIORITY_DEFAULT, NULL,
                               rabc_test_store_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (g_async_initable_init_finish (G_ASYNC_INITABLE (client), result, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_TIMED_OUT);
  g_clear_error (&error);
  g_clear_object (&result);
  g_clear_object (&client);

  /* While init_async retries, an init in another thread waits for a
   * connection too, and both end with the same outcome. */
  client = g_object_new (RABC_TYPE_CLIENT, "socket-path", fixture->path, "timeout", 0, NULL);
  g_async_initable_init_async (G_ASYNC_INITABLE (client), G_PRIORITY_DEFAULT, NULL,
                               rabc_test_store_result, &result);
  thread = g_thread_new ("rabc-test-init", init_in_thread, client);
  /* Both have tried and failed once: 50 ms is five retries. */
  wait_for_timers_armed_before (50);
  g_assert_null (result);
  g_assert_false (rabc_client_get_connected (client));

  full_backlog_drain (&backlog);
  thread_error = g_thread_join (thread);
  g_assert_no_error (thread_error);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (g_async_initable_init_finish (G_ASYNC_INITABLE (client), result, &error));
  g_assert_no_error (error);
  g_assert_true (rabc_client_get_connected (client));
  g_clear_object (&result);

  /* A later init returns the outcome, connecting nothing more. */
  g_assert_true (g_initable_init (G_INITABLE (client), NULL, &error));
  g_assert_no_error (error);

  rabc_client_close (client);
  full_backlog_clear (&backlog, fixture->path);
}

static void
on_closed_unref (RabcClient   *client,
                 const GError *error,
                 gpointer      user_data)
{
  gboolean *closed = user_data;

  *closed = TRUE;
  g_object_unref (client);
}

static void
on_notify_unref (GObject    *object,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  gboolean *notified = user_data;

  *notified = TRUE;
  g_object_unref (object);
}

static void
hang_up_peer (int      fd,
              gpointer user_data)
{
}

/* Handlers may drop the last reference even when the signal is emitted
 * from inside the public call that caused it. */
static void
test_unref_in_handler_of_own_call (Fixture       *fixture,
                                   gconstpointer  data)
{
  RabcServer *server = start_server (fixture->path);
  RabcClient *client = connect_client (fixture->path, 0);
  gboolean closed = FALSE;
  gboolean notified = FALSE;
  GWeakRef weak;

  /* No loop runs: close() emits ::closed itself. */
  g_weak_ref_init (&weak, client);
  g_signal_connect (client, "closed", G_CALLBACK (on_closed_unref), &closed);
  rabc_client_close (client);
  g_assert_true (closed);
  g_assert_null (g_weak_ref_get (&weak));

  /* And a setter, notify. */
  client = connect_client (fixture->path, 0);
  g_weak_ref_set (&weak, client);
  g_signal_connect (client, "notify::timeout", G_CALLBACK (on_notify_unref), &notified);
  rabc_client_set_timeout (client, 1234);
  g_assert_true (notified);
  g_assert_null (g_weak_ref_get (&weak));

  g_weak_ref_clear (&weak);
  g_object_unref (server);
}

/* A send_sync whose write finds the daemon gone fails, and the client is
 * closed: nothing read from the request it freed. */
static void
test_send_sync_to_hung_up_peer (Fixture       *fixture,
                                gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, hang_up_peer, NULL);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 0);
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;

  /* The peer has accepted and closed; no main loop has noticed. */
  rabc_test_peer_free (peer);
  reply = rabc_client_send_sync (client, "anyone?", NULL, &error);
  g_assert_null (reply);
  g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_false (rabc_client_get_connected (client));
}

/* Two pings answered in one read: the handler of the first closes the
 * client, and the second's ::reply never comes. */
static void
test_no_reply_after_close (Fixture       *fixture,
                           gconstpointer  data)
{
  static const guint batches[] = { 2, 0 };
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, batch_echo_peer, (gpointer) batches);
  g_autoptr(RabcClient) client = connect_client (fixture->path, 1);
  ClientEvents events = { 0 };
  gboolean closed_by_handler = FALSE;

  watch_client (client, &events);
  g_signal_connect (client, "reply", G_CALLBACK (on_reply_close), &closed_by_handler);
  rabc_test_wait_for (&events.closed, 5000);
  /* Everything queued when close() was called has been emitted by now:
   * the events of one read are emitted in one go. */
  g_assert_true (closed_by_handler);
  g_assert_cmpuint (events.n_replies, ==, 1);
  g_assert_no_error (events.closed_error);

  rabc_test_peer_free (peer);
  events_clear (&events);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/version", test_version);
  g_test_add_func ("/rabc/default-socket-path", test_default_socket_path);
  g_test_add_func ("/rabc/error-type", test_error_type);
  RABC_TEST_ADD ("/rabc/client/send-sync", test_send_sync);
  RABC_TEST_ADD ("/rabc/client/send-async", test_send_async);
  RABC_TEST_ADD ("/rabc/client/new-async-fails", test_new_async_fails);
  RABC_TEST_ADD ("/rabc/client/connect-errors", test_connect_errors);
  RABC_TEST_ADD ("/rabc/client/init-twice", test_init_twice);
  RABC_TEST_ADD ("/rabc/client/default-properties", test_default_properties);
  RABC_TEST_ADD ("/rabc/client/automatic-pings", test_automatic_pings);
  RABC_TEST_ADD ("/rabc/client/fifo-with-pings", test_fifo_with_pings);
  RABC_TEST_ADD ("/rabc/client/message-too-large", test_message_too_large);
  RABC_TEST_ADD ("/rabc/client/close-with-pending", test_close_with_pending);
  RABC_TEST_ADD ("/rabc/client/server-gone", test_server_gone);
  RABC_TEST_ADD ("/rabc/client/server-gone-sync", test_server_gone_sync);
  RABC_TEST_ADD ("/rabc/client/timeout", test_timeout);
  RABC_TEST_ADD ("/rabc/client/cancel", test_cancel);
  RABC_TEST_ADD ("/rabc/client/faults", test_client_faults);
  RABC_TEST_ADD ("/rabc/client/nul-in-reply", test_nul_in_reply);
  RABC_TEST_ADD ("/rabc/client/unref-and-reentrancy", test_unref_and_reentrancy);
  RABC_TEST_ADD ("/rabc/server/silent-client-does-not-block", test_silent_client_does_not_block);
  RABC_TEST_ADD ("/rabc/server/many-clients", test_many_clients);
  RABC_TEST_ADD ("/rabc/server/signals", test_server_signals);
  RABC_TEST_ADD ("/rabc/server/protocol-violations", test_protocol_violations);
  RABC_TEST_ADD ("/rabc/server/stop-from-handler", test_server_stop_from_handler);
  RABC_TEST_ADD ("/rabc/server/stop-from-handler-pipelined", test_server_stop_from_handler_pipelined);
  RABC_TEST_ADD ("/rabc/server/replies-to-one-read", test_server_replies_to_one_read);
  RABC_TEST_ADD ("/rabc/server/unref-in-timeout-handler", test_server_unref_in_timeout_handler);
  RABC_TEST_ADD ("/rabc/server/dispose-is-quiet", test_server_dispose_is_quiet);
  RABC_TEST_ADD ("/rabc/server/restart", test_server_restart);
  RABC_TEST_ADD ("/rabc/server/bad-path", test_server_bad_path);
  RABC_TEST_ADD ("/rabc/server/socket-file/live", test_socket_file_live);
  RABC_TEST_ADD ("/rabc/server/socket-file/stale", test_socket_file_stale);
  RABC_TEST_ADD ("/rabc/server/socket-file/not-socket", test_socket_file_not_socket);
  RABC_TEST_ADD ("/rabc/server/socket-file/replaced", test_socket_file_replaced);
  RABC_TEST_ADD ("/rabc/server/socket-file/lock", test_socket_file_lock);
  RABC_TEST_ADD ("/rabc/server/start-with-socket-fd", test_server_start_with_socket_fd);
  RABC_TEST_ADD ("/rabc/server/socket-mode", test_server_socket_mode);
  RABC_TEST_ADD ("/rabc/client/auto-reconnect", test_auto_reconnect);
  RABC_TEST_ADD ("/rabc/client/sync-from-callbacks", test_sync_from_callbacks);
  RABC_TEST_ADD ("/rabc/client/close-from-callback", test_close_from_callback);
  RABC_TEST_ADD ("/rabc/client/nested-loop-in-callback", test_nested_loop_in_callback);
  RABC_TEST_ADD ("/rabc/client/null-ping-message", test_null_ping_message);
  RABC_TEST_ADD ("/rabc/client/send-bytes", test_send_bytes);
  RABC_TEST_ADD ("/rabc/client/init-contract", test_init_contract);
  RABC_TEST_ADD ("/rabc/client/unref-in-handler-of-own-call", test_unref_in_handler_of_own_call);
  RABC_TEST_ADD ("/rabc/client/send-sync-to-hung-up-peer", test_send_sync_to_hung_up_peer);
  RABC_TEST_ADD ("/rabc/client/no-reply-after-close", test_no_reply_after_close);
  RABC_TEST_ADD ("/rabc/server/allowed-uids", test_server_allowed_uids);
  RABC_TEST_ADD ("/rabc/server/stop-answers-owed", test_server_stop_answers_owed);

  return g_test_run ();
}
