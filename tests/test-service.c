/* test-service.c: applications answering requests, through
 * RabcServer::handle-request, RabcRequest and RabcPeer
 *
 * SPDX-License-Identifier: MIT
 */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "rabc-frame-private.h"
#include "rabc-test-util.h"

typedef RabcTestFixture Fixture;

/* Only a guard against a hang: every wait is for a condition. */
#define WAIT_MS 60000

/* The other user of /rabc/service/other-user-credentials, shared with the
 * reliability tests so that the system gets no more users than it needs. */
#define OTHER_USER "rabctest1"

static GThread *main_thread;

/* --- expected log messages --------------------------------------------- */

/* The library logs with the structured API, which g_test_expect_message()
 * does not see: this writer takes the messages a test expects, in order,
 * and hands every other to the default writer, which aborts on warnings
 * and criticals as in any test. */
typedef struct {
  GLogLevelFlags  level;
  char           *pattern;
} ExpectedLog;

static GMutex expected_lock;
static GQueue expected_logs = G_QUEUE_INIT;

static void
expected_log_free (ExpectedLog *expected)
{
  g_free (expected->pattern);
  g_free (expected);
}

static GLogWriterOutput
expecting_log_writer (GLogLevelFlags   log_level,
                      const GLogField *fields,
                      gsize            n_fields,
                      gpointer         user_data)
{
  const char *domain = NULL, *message = NULL;
  ExpectedLog *expected;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0)
        domain = fields[i].value;
      else if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].length < 0)
        message = fields[i].value;
    }

  g_mutex_lock (&expected_lock);
  expected = g_queue_peek_head (&expected_logs);
  if (expected != NULL && message != NULL && g_strcmp0 (domain, "Rabc") == 0 &&
      (log_level & G_LOG_LEVEL_MASK) == expected->level &&
      g_pattern_match_simple (expected->pattern, message))
    {
      expected_log_free (g_queue_pop_head (&expected_logs));
      g_mutex_unlock (&expected_lock);
      return G_LOG_WRITER_HANDLED;
    }
  g_mutex_unlock (&expected_lock);

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

/* Expects the library to log a message matching @pattern at @level. */
static void
expect_log (GLogLevelFlags  level,
            const char     *pattern)
{
  ExpectedLog *expected = g_new0 (ExpectedLog, 1);

  expected->level = level;
  expected->pattern = g_strdup (pattern);
  g_mutex_lock (&expected_lock);
  g_queue_push_tail (&expected_logs, expected);
  g_mutex_unlock (&expected_lock);
}

static void
assert_logs_seen (void)
{
  ExpectedLog *missing;

  g_mutex_lock (&expected_lock);
  missing = g_queue_peek_head (&expected_logs);
  g_mutex_unlock (&expected_lock);
  if (missing != NULL)
    g_error ("expected a log message matching \"%s\", which did not come", missing->pattern);
}

/* --- waiting ------------------------------------------------------------ */

typedef gboolean (*Condition) (gpointer user_data);

static gboolean
on_guard_timeout (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the thread-default context, where the servers of these tests
 * run, until @done holds; fails the test after WAIT_MS. */
static void
wait_until (Condition done,
            gpointer  user_data)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (WAIT_MS, on_guard_timeout, &timed_out);

  while (!done (user_data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  if (!done (user_data))
    g_error ("timed out after %u ms", WAIT_MS);
}

typedef struct {
  const guint *count;
  guint        n;
} CountCondition;

static gboolean
count_reached (gpointer user_data)
{
  CountCondition *condition = user_data;

  return (guint) g_atomic_int_get ((const gint *) condition->count) >= condition->n;
}

/* Waits until *@count, which any thread may raise atomically, is @n. */
static void
wait_for_count (const guint *count,
                guint        n)
{
  CountCondition condition = { count, n };

  wait_until (count_reached, &condition);
  g_assert_cmpuint (*count, ==, n);
}

/* Dispatches whatever is ready, without blocking, until nothing is: what
 * the server does with what it has, it has done.  A source that stays
 * ready forever is a busy loop, and fails the test. */
static void
run_until_idle (void)
{
  guint n = 0;

  while (g_main_context_iteration (NULL, FALSE))
    if (++n > 100000)
      g_error ("the main context never goes idle: a busy loop");
}

/* Runs @func (@data) in a thread of its own, iterating the thread-default
 * context meanwhile, so that the thread may wait for the server. */
typedef struct {
  GThreadFunc func;
  gpointer    data;
  gpointer    result;
  guint       done;
} ThreadRun;

static gpointer
thread_run_main (gpointer user_data)
{
  ThreadRun *run = user_data;

  run->result = run->func (run->data);
  g_atomic_int_set (&run->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

static gpointer
run_in_thread (GThreadFunc func,
               gpointer    data)
{
  ThreadRun run = { func, data, NULL, 0 };
  GThread *thread = g_thread_new ("rabc-test-worker", thread_run_main, &run);

  wait_for_count (&run.done, 1);
  g_thread_join (thread);
  return run.result;
}

/* --- clients ------------------------------------------------------------ */

/* A client without automatic pings, which would be requests too, and
 * without a timeout: the tests' own guard stands for it. */
static RabcClient *
new_client (const char *path)
{
  g_autoptr(GError) error = NULL;
  RabcClient *client;

  client = g_initable_new (RABC_TYPE_CLIENT, NULL, &error,
                           "socket-path", path,
                           "ping-interval", 0,
                           "timeout", 0,
                           NULL);
  g_assert_no_error (error);
  return client;
}

/* A request sent with send_async or send_bytes_async, and its outcome. */
typedef struct {
  gboolean  done;
  char     *reply;
  GBytes   *bytes;
  GError   *error;
} Call;

static void
on_call_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Call *call = user_data;

  g_assert_false (call->done);
  call->reply = rabc_client_send_finish (RABC_CLIENT (source), result, &call->error);
  call->done = TRUE;
}

static void
on_bytes_call_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Call *call = user_data;

  g_assert_false (call->done);
  call->bytes = rabc_client_send_bytes_finish (RABC_CLIENT (source), result, &call->error);
  call->done = TRUE;
}

static void
call_clear (Call *call)
{
  g_clear_pointer (&call->reply, g_free);
  g_clear_pointer (&call->bytes, g_bytes_unref);
  g_clear_error (&call->error);
  call->done = FALSE;
}

static void
send_call (RabcClient *client,
           const char *message,
           Call       *call)
{
  rabc_client_send_async (client, message, NULL, on_call_done, call);
}

static void
wait_call (Call *call)
{
  rabc_test_wait_for (&call->done, WAIT_MS);
}

/* Sends @message and returns its reply. */
static char *
round_trip (RabcClient *client,
            const char *message)
{
  Call call = { 0 };
  char *reply;

  send_call (client, message, &call);
  wait_call (&call);
  g_assert_no_error (call.error);
  reply = g_steal_pointer (&call.reply);
  call_clear (&call);
  return reply;
}

/* --- raw clients -------------------------------------------------------- */

/* Writes a frame for each of @messages in one go, so that the server sees
 * them pipelined, and, many small frames being one write, without the
 * writer blocking on a socket buffer the server is not draining. */
static void
write_frames (int                 fd,
              const char * const *messages,
              guint               n)
{
  g_autoptr(GByteArray) buffer = g_byte_array_new ();

  for (guint i = 0; i < n; i++)
    {
      guint64 header = strlen (messages[i]);

      g_byte_array_append (buffer, (const guint8 *) &header, sizeof header);
      g_byte_array_append (buffer, (const guint8 *) messages[i], header);
    }
  rabc_test_write_all (fd, buffer->data, buffer->len);
}

/* @n messages "@prefix@i", for write_frames(). */
static GStrv
numbered_messages (const char *prefix,
                   guint       n)
{
  GStrv messages = g_new0 (char *, n + 1);

  for (guint i = 0; i < n; i++)
    messages[i] = g_strdup_printf ("%s%u", prefix, i);
  return messages;
}

/* The frames a raw connection receives, read as the thread-default
 * context runs, since the server runs there too. */
typedef struct {
  int         fd;
  guint       source_id;
  GByteArray *buffer;
  /* NUL-terminated payloads. */
  GPtrArray  *frames;
  gboolean    eof;
} RawReader;

static gboolean
on_raw_readable (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  RawReader *reader = user_data;
  guint8 chunk[4096];
  ssize_t n = recv (fd, chunk, sizeof chunk, MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      /* End of stream; a reset is one too, with the data before it read. */
      reader->eof = TRUE;
      reader->source_id = 0;
      return G_SOURCE_REMOVE;
    }

  g_byte_array_append (reader->buffer, chunk, n);
  for (;;)
    {
      guint64 len;
      char *payload;

      if (reader->buffer->len < sizeof len)
        break;
      memcpy (&len, reader->buffer->data, sizeof len);
      g_assert_cmpuint (len, <, 1024 * 1024);
      if (reader->buffer->len < sizeof len + len)
        break;
      payload = g_malloc0 (len + 1);
      memcpy (payload, reader->buffer->data + sizeof len, len);
      g_ptr_array_add (reader->frames, payload);
      g_byte_array_remove_range (reader->buffer, 0, sizeof len + len);
    }
  return G_SOURCE_CONTINUE;
}

static RawReader *
raw_reader_new (int fd)
{
  RawReader *reader = g_new0 (RawReader, 1);

  reader->fd = fd;
  reader->buffer = g_byte_array_new ();
  reader->frames = g_ptr_array_new_with_free_func (g_free);
  reader->source_id = g_unix_fd_add (fd, G_IO_IN, on_raw_readable, reader);
  return reader;
}

static void
raw_reader_free (RawReader *reader)
{
  if (reader->source_id != 0)
    g_source_remove (reader->source_id);
  g_byte_array_unref (reader->buffer);
  g_ptr_array_unref (reader->frames);
  g_free (reader);
}

static gboolean
raw_reader_has (gpointer user_data)
{
  RawReader *reader = ((gpointer *) user_data)[0];
  guint n = GPOINTER_TO_UINT (((gpointer *) user_data)[1]);

  return reader->frames->len >= n || reader->eof;
}

/* Waits for @n frames in all; fails if the stream ends before. */
static void
raw_reader_wait (RawReader *reader,
                 guint      n)
{
  gpointer condition[] = { reader, GUINT_TO_POINTER (n) };

  wait_until (raw_reader_has, condition);
  g_assert_cmpuint (reader->frames->len, >=, n);
}

static gboolean
raw_reader_ended (gpointer user_data)
{
  return ((RawReader *) user_data)->eof;
}

/* Waits for the end of the stream. */
static void
raw_reader_wait_eof (RawReader *reader)
{
  wait_until (raw_reader_ended, reader);
  g_assert_cmpuint (reader->buffer->len, ==, 0);
}

static const char *
raw_reader_frame (RawReader *reader,
                  guint      i)
{
  g_assert_cmpuint (i, <, reader->frames->len);
  return g_ptr_array_index (reader->frames, i);
}

/* --- the server side ---------------------------------------------------- */

/* A started server, what it was asked, and who came and went. */
typedef struct {
  RabcServer *server;
  /* Requests taken and not answered yet, by hold_request(). */
  GPtrArray  *held;
  guint       n_requests;
  /* RabcPeer, in the order of client-connected and client-disconnected. */
  GPtrArray  *connected;
  GPtrArray  *disconnected;
  /* The largest RabcPeer:n-pending seen, and a bound it must stay within
   * (0 for none). */
  guint       max_n_pending;
  guint       n_pending_bound;
  /* The threads the last notify::n-pending and client-disconnected came
   * in. */
  GThread    *n_pending_thread;
  GThread    *disconnected_thread;
} Service;

static void
on_n_pending (RabcPeer   *peer,
              GParamSpec *pspec,
              Service    *service)
{
  guint n_pending = rabc_peer_get_n_pending (peer);

  service->n_pending_thread = g_thread_self ();
  service->max_n_pending = MAX (service->max_n_pending, n_pending);
  if (service->n_pending_bound > 0)
    g_assert_cmpuint (n_pending, <=, service->n_pending_bound);
}

static void
on_client_connected (RabcServer *server,
                     RabcPeer   *peer,
                     Service    *service)
{
  g_assert_true (rabc_peer_get_connected (peer));
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 0);
  g_ptr_array_add (service->connected, g_object_ref (peer));
  g_signal_connect (peer, "notify::n-pending", G_CALLBACK (on_n_pending), service);
}

static void
on_client_disconnected (RabcServer *server,
                        RabcPeer   *peer,
                        Service    *service)
{
  /* Gone for good before the signal, with nothing pending any more. */
  g_assert_false (rabc_peer_get_connected (peer));
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 0);
  service->disconnected_thread = g_thread_self ();
  g_ptr_array_add (service->disconnected, g_object_ref (peer));
}

/* Makes a server on @path, with max-pending-requests @max_pending (0 for
 * the default), not started yet. */
static void
service_init (Service    *service,
              const char *path,
              guint       max_pending)
{
  memset (service, 0, sizeof *service);
  service->held = g_ptr_array_new_with_free_func (g_object_unref);
  service->connected = g_ptr_array_new_with_free_func (g_object_unref);
  service->disconnected = g_ptr_array_new_with_free_func (g_object_unref);
  service->server = rabc_server_new (path);
  if (max_pending > 0)
    {
      rabc_server_set_max_pending_requests (service->server, max_pending);
      service->n_pending_bound = max_pending;
    }
  g_signal_connect (service->server, "client-connected", G_CALLBACK (on_client_connected), service);
  g_signal_connect (service->server, "client-disconnected",
                    G_CALLBACK (on_client_disconnected), service);
}

static void
service_start (Service    *service,
               const char *path,
               guint       max_pending)
{
  g_autoptr(GError) error = NULL;

  service_init (service, path, max_pending);
  g_assert_true (rabc_server_start (service->server, &error));
  g_assert_no_error (error);
}

/* Stops the server; every request held must be answered by now. */
static void
service_stop (Service *service)
{
  g_assert_cmpuint (service->held->len, ==, 0);
  g_clear_object (&service->server);
  for (guint i = 0; i < service->connected->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (service->connected, i), service);
  g_ptr_array_unref (service->held);
  g_ptr_array_unref (service->connected);
  g_ptr_array_unref (service->disconnected);
}

static gboolean
disconnected_reached (gpointer user_data)
{
  Service *service = ((gpointer *) user_data)[0];
  guint n = GPOINTER_TO_UINT (((gpointer *) user_data)[1]);

  return service->disconnected->len >= n;
}

static void
wait_for_disconnected (Service *service,
                       guint    n)
{
  gpointer condition[] = { service, GUINT_TO_POINTER (n) };

  wait_until (disconnected_reached, condition);
  g_assert_cmpuint (service->disconnected->len, ==, n);
}

static gboolean
held_reached (gpointer user_data)
{
  Service *service = ((gpointer *) user_data)[0];
  guint n = GPOINTER_TO_UINT (((gpointer *) user_data)[1]);

  return service->held->len >= n;
}

/* Waits until @n requests are held. */
static void
wait_for_held (Service *service,
               guint    n)
{
  gpointer condition[] = { service, GUINT_TO_POINTER (n) };

  wait_until (held_reached, condition);
  g_assert_cmpuint (service->held->len, ==, n);
}

static RabcRequest *
held_request (Service *service,
              guint    i)
{
  return g_ptr_array_index (service->held, i);
}

/* Takes every request, and holds it for the test to answer. */
static gboolean
hold_request (RabcServer  *server,
              RabcRequest *request,
              Service     *service)
{
  RabcPeer *peer = rabc_request_get_peer (request);

  service->n_requests++;
  /* This one is not taken yet: the others are. */
  if (service->n_pending_bound > 0)
    g_assert_cmpuint (rabc_peer_get_n_pending (peer), <, service->n_pending_bound);
  g_ptr_array_add (service->held, g_object_ref (request));
  return TRUE;
}

static char *
echo_of (RabcRequest *request)
{
  return g_strconcat ("re:", rabc_request_get_message (request), NULL);
}

static void
reply_echo (RabcRequest *request)
{
  g_autofree char *reply = echo_of (request);

  rabc_request_reply (request, reply);
}

/* Answers the held request @i with its echo; the test holds it no more. */
static void
answer_held (Service *service,
             guint    i)
{
  reply_echo (held_request (service, i));
}

static RabcPeer *
only_peer (Service *service)
{
  g_assert_cmpuint (service->connected->len, ==, 1);
  return g_ptr_array_index (service->connected, 0);
}

/* --- answering at once, later, from elsewhere --------------------------- */

static gboolean
reply_at_once (RabcServer  *server,
               RabcRequest *request,
               guint       *n_requests)
{
  const char *message = rabc_request_get_message (request);
  RabcPeer *peer = rabc_request_get_peer (request);

  (*n_requests)++;
  g_assert_true (RABC_IS_PEER (peer));
  g_assert_true (rabc_peer_get_connected (peer));
  g_assert_cmpuint (g_bytes_get_size (rabc_request_get_payload (request)), ==, strlen (message));

  if (g_str_has_prefix (message, "bytes:"))
    {
      g_autofree char *text = g_strconcat ("B:", message + strlen ("bytes:"), NULL);
      g_autoptr(GBytes) reply = g_bytes_new (text, strlen (text));

      rabc_request_reply_bytes (request, reply);
    }
  else if (g_str_equal (message, "null"))
    rabc_request_reply (request, NULL);
  else if (g_str_equal (message, "decline"))
    return FALSE;
  else
    reply_echo (request);
  return TRUE;
}

static void
test_reply_at_once (Fixture       *fixture,
                    gconstpointer  data)
{
  Service service;
  g_autoptr(RabcClient) client = NULL;
  guint n_requests = 0;

  service_start (&service, fixture->path, 0);
  rabc_server_set_reply (service.server, "server reply");
  g_signal_connect (service.server, "handle-request", G_CALLBACK (reply_at_once), &n_requests);
  client = new_client (fixture->path);

  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *a = round_trip (client, "hello");
      g_autofree char *b = round_trip (client, "bytes:world");
      g_autofree char *c = round_trip (client, "null");
      g_autofree char *d = round_trip (client, "decline");

      g_assert_cmpstr (a, ==, "re:hello");
      g_assert_cmpstr (b, ==, "B:world");
      /* NULL answers with the server's reply, as declining does. */
      g_assert_cmpstr (c, ==, "server reply");
      g_assert_cmpstr (d, ==, "server reply");
    }
  g_assert_cmpuint (n_requests, ==, 12);

  /* Answered before the handler returned: never pending. */
  g_assert_cmpuint (service.max_n_pending, ==, 0);
  g_assert_cmpuint (rabc_peer_get_n_pending (only_peer (&service)), ==, 0);

  g_clear_object (&client);
  service_stop (&service);
}

typedef struct {
  RabcRequest *request;
  Call        *call;
  guint        n_fired;
} Later;

static gboolean
on_answer_later (gpointer user_data)
{
  Later *later = user_data;
  RabcPeer *peer = rabc_request_get_peer (later->request);

  /* Taken and not answered: pending, and the client still waits. */
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 1);
  g_assert_false (later->call->done);

  reply_echo (later->request);
  /* In the server's context, the answer counts at once. */
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 0);

  g_clear_object (&later->request);
  later->n_fired++;
  return G_SOURCE_REMOVE;
}

static gboolean
answer_from_timeout (RabcServer  *server,
                     RabcRequest *request,
                     Later       *later)
{
  g_assert_null (later->request);
  later->request = g_object_ref (request);
  g_timeout_add (10, on_answer_later, later);
  return TRUE;
}

static void
test_reply_later_from_timeout (Fixture       *fixture,
                               gconstpointer  data)
{
  Service service;
  g_autoptr(RabcClient) client = NULL;
  Call call = { 0 };
  Later later = { .call = &call };

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (answer_from_timeout), &later);
  client = new_client (fixture->path);

  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *message = g_strdup_printf ("later %u", i);
      g_autofree char *expected = g_strdup_printf ("re:later %u", i);

      send_call (client, message, &call);
      wait_call (&call);
      g_assert_no_error (call.error);
      g_assert_cmpstr (call.reply, ==, expected);
      g_assert_cmpuint (later.n_fired, ==, i + 1);
      call_clear (&call);
    }
  g_assert_cmpuint (service.max_n_pending, ==, 1);

  g_clear_object (&client);
  service_stop (&service);
}

static gboolean
poll_readable (int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };

  return poll (&pfd, 1, 0) > 0;
}

static void
test_replies_in_request_order (Fixture       *fixture,
                               gconstpointer  data)
{
  const char *messages[] = { "A", "B", "C" };
  Service service;
  RawReader *reader;
  RabcPeer *peer;
  int fd;

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  fd = rabc_test_connect_raw (fixture->path);
  reader = raw_reader_new (fd);

  write_frames (fd, messages, 3);
  wait_for_held (&service, 3);
  peer = only_peer (&service);
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 3);
  g_assert_cmpstr (rabc_request_get_message (held_request (&service, 0)), ==, "A");
  g_assert_cmpstr (rabc_request_get_message (held_request (&service, 2)), ==, "C");

  /* C answered first waits for A and B: nothing is written. */
  answer_held (&service, 2);
  run_until_idle ();
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 2);
  g_assert_cmpuint (reader->frames->len, ==, 0);
  g_assert_false (poll_readable (fd));

  /* A goes out, and C still waits for B. */
  answer_held (&service, 0);
  raw_reader_wait (reader, 1);
  run_until_idle ();
  g_assert_cmpuint (reader->frames->len, ==, 1);
  g_assert_cmpstr (raw_reader_frame (reader, 0), ==, "re:A");
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 1);

  answer_held (&service, 1);
  raw_reader_wait (reader, 3);
  g_assert_cmpstr (raw_reader_frame (reader, 1), ==, "re:B");
  g_assert_cmpstr (raw_reader_frame (reader, 2), ==, "re:C");
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 0);
  g_ptr_array_set_size (service.held, 0);

  raw_reader_free (reader);
  close (fd);
  service_stop (&service);
}

/* --- answers from other threads ----------------------------------------- */

static void
reply_in_task (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  RabcRequest *request = task_data;
  g_autofree char *reply = g_strconcat ("thread:", rabc_request_get_message (request), NULL);

  g_assert_true (g_thread_self () != main_thread);
  rabc_request_reply (request, reply);
  g_task_return_boolean (task, TRUE);
}

static void
on_task_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  guint *n_done = user_data;

  g_assert_true (g_task_propagate_boolean (G_TASK (result), NULL));
  (*n_done)++;
}

static gboolean
answer_in_task (RabcServer  *server,
                RabcRequest *request,
                guint       *n_done)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, on_task_done, n_done);

  g_task_set_task_data (task, g_object_ref (request), g_object_unref);
  g_task_run_in_thread (task, reply_in_task);
  return TRUE;
}

#define N_THREAD_CALLS 300

static void
test_reply_from_threads (Fixture       *fixture,
                         gconstpointer  data)
{
  Service service;
  g_autoptr(RabcClient) client = NULL;
  Call *calls = g_new0 (Call, N_THREAD_CALLS);
  guint n_done = 0;

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (answer_in_task), &n_done);
  client = new_client (fixture->path);

  for (guint i = 0; i < N_THREAD_CALLS; i++)
    {
      g_autofree char *message = g_strdup_printf ("t%u", i);

      send_call (client, message, &calls[i]);
    }
  for (guint i = 0; i < N_THREAD_CALLS; i++)
    {
      g_autofree char *expected = g_strdup_printf ("thread:t%u", i);

      wait_call (&calls[i]);
      g_assert_no_error (calls[i].error);
      g_assert_cmpstr (calls[i].reply, ==, expected);
      call_clear (&calls[i]);
    }
  wait_for_count (&n_done, N_THREAD_CALLS);
  g_assert_cmpuint (service.max_n_pending, <=, rabc_server_get_max_pending_requests (service.server));
  g_assert_cmpuint (rabc_peer_get_n_pending (only_peer (&service)), ==, 0);

  g_free (calls);
  g_clear_object (&client);
  service_stop (&service);
}

/* Each message says how it is to be answered: 'n' now, 't' from a
 * timeout, 'w' by a worker thread, 'p' not taken, for the server's reply. */
typedef struct {
  GThreadPool *pool;
  guint        n_timeouts;
} Mixed;

static gboolean
on_mixed_timeout (gpointer user_data)
{
  RabcRequest *request = user_data;

  reply_echo (request);
  g_object_unref (request);
  return G_SOURCE_REMOVE;
}

static void
reply_in_pool (gpointer data,
               gpointer user_data)
{
  RabcRequest *request = data;

  reply_echo (request);
  g_object_unref (request);
}

static gboolean
answer_mixed (RabcServer  *server,
              RabcRequest *request,
              Mixed       *mixed)
{
  const char *message = rabc_request_get_message (request);

  switch (message[0])
    {
    case 'n':
      reply_echo (request);
      return TRUE;
    case 't':
      /* Delays of 0 to 3 ms: some answer before requests that came
       * earlier, some after. */
      g_timeout_add (mixed->n_timeouts++ % 4, on_mixed_timeout, g_object_ref (request));
      return TRUE;
    case 'w':
      g_thread_pool_push (mixed->pool, g_object_ref (request), NULL);
      return TRUE;
    default:
      return FALSE;
    }
}

static char *
mixed_expected (const char *message)
{
  return message[0] == 'p' ? g_strdup ("pong") : g_strconcat ("re:", message, NULL);
}

#define N_MIXED_CONNECTIONS 5

static void
test_pipelined_mixed (Fixture       *fixture,
                      gconstpointer  data)
{
  static const char kinds[] = "ntwpwtnttwpn";
  const guint counts[N_MIXED_CONNECTIONS] = { 1000, 250, 250, 250, 250 };
  GStrv messages[N_MIXED_CONNECTIONS];
  RawReader *readers[N_MIXED_CONNECTIONS];
  int fds[N_MIXED_CONNECTIONS];
  g_autoptr(GError) error = NULL;
  Service service;
  Mixed mixed = { 0 };

  mixed.pool = g_thread_pool_new (reply_in_pool, NULL, 4, FALSE, &error);
  g_assert_no_error (error);
  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (answer_mixed), &mixed);

  for (guint c = 0; c < N_MIXED_CONNECTIONS; c++)
    {
      messages[c] = g_new0 (char *, counts[c] + 1);
      for (guint i = 0; i < counts[c]; i++)
        messages[c][i] = g_strdup_printf ("%c%u-%u", kinds[(i * 7 + c) % strlen (kinds)], c, i);
      fds[c] = rabc_test_connect_raw (fixture->path);
      readers[c] = raw_reader_new (fds[c]);
    }
  for (guint c = 0; c < N_MIXED_CONNECTIONS; c++)
    write_frames (fds[c], (const char * const *) messages[c], counts[c]);

  for (guint c = 0; c < N_MIXED_CONNECTIONS; c++)
    {
      raw_reader_wait (readers[c], counts[c]);
      for (guint i = 0; i < counts[c]; i++)
        {
          g_autofree char *expected = mixed_expected (messages[c][i]);

          g_assert_cmpstr (raw_reader_frame (readers[c], i), ==, expected);
        }
    }
  run_until_idle ();
  for (guint c = 0; c < N_MIXED_CONNECTIONS; c++)
    g_assert_cmpuint (readers[c]->frames->len, ==, counts[c]);
  g_assert_cmpuint (service.max_n_pending, >, 0);
  g_assert_cmpuint (service.max_n_pending, <=, rabc_server_get_max_pending_requests (service.server));

  g_thread_pool_free (mixed.pool, FALSE, TRUE);
  for (guint c = 0; c < N_MIXED_CONNECTIONS; c++)
    {
      raw_reader_free (readers[c]);
      close (fds[c]);
      g_strfreev (messages[c]);
    }
  service_stop (&service);
}

/* --- clients that go away ----------------------------------------------- */

static gpointer
reply_echo_in_thread (gpointer data)
{
  reply_echo (data);
  return NULL;
}

static void
on_notify_connected (RabcPeer   *peer,
                     GParamSpec *pspec,
                     guint      *count)
{
  (*count)++;
}

static void
test_disconnect_with_requests_taken (Fixture       *fixture,
                                     gconstpointer  data)
{
  const char *messages[] = { "one", "two", "three" };
  g_autoptr(GBytes) reply = g_bytes_new_static ("late", 4);
  Service service;
  RabcPeer *peer;
  guint n_connected_notify = 0;
  int fd;

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  fd = rabc_test_connect_raw (fixture->path);
  write_frames (fd, messages, 3);
  wait_for_held (&service, 3);
  peer = only_peer (&service);
  g_signal_connect (peer, "notify::connected", G_CALLBACK (on_notify_connected),
                    &n_connected_notify);
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 3);

  close (fd);
  wait_for_disconnected (&service, 1);
  g_assert_true (g_ptr_array_index (service.disconnected, 0) == peer);
  g_assert_cmpuint (n_connected_notify, ==, 1);
  g_assert_false (rabc_peer_get_connected (peer));
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 0);
  g_assert_cmpuint (rabc_server_get_n_clients (service.server), ==, 0);

  /* Each request still knows its client, and answering does nothing, from
   * this thread or another, as text or bytes. */
  for (guint i = 0; i < 3; i++)
    {
      RabcPeer *request_peer = rabc_request_get_peer (held_request (&service, i));

      g_assert_true (request_peer == peer);
      g_assert_cmpint (rabc_peer_get_pid (request_peer), ==, getpid ());
      g_assert_cmpuint (rabc_peer_get_uid (request_peer), ==, getuid ());
    }
  answer_held (&service, 0);
  run_in_thread (reply_echo_in_thread, held_request (&service, 1));
  rabc_request_reply_bytes (held_request (&service, 2), reply);
  run_until_idle ();
  g_assert_false (rabc_peer_get_connected (peer));
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 0);
  g_assert_cmpuint (n_connected_notify, ==, 1);
  g_ptr_array_set_size (service.held, 0);

  /* Closing a peer that is gone does nothing either. */
  rabc_peer_close (peer);
  run_until_idle ();
  g_assert_cmpuint (service.disconnected->len, ==, 1);

  g_signal_handlers_disconnect_by_data (peer, &n_connected_notify);
  service_stop (&service);
}

/* Takes every request and lets it go unanswered, but for "next". */
static gboolean
take_and_drop (RabcServer  *server,
               RabcRequest *request,
               Service     *service)
{
  const char *message = rabc_request_get_message (request);

  if (g_str_equal (message, "next"))
    reply_echo (request);
  else if (g_str_equal (message, "hold"))
    g_ptr_array_add (service->held, g_object_ref (request));
  return TRUE;
}

static void
test_released_without_answer (Fixture       *fixture,
                              gconstpointer  data)
{
  Service service;
  g_autoptr(RabcClient) client = NULL;
  Call first = { 0 }, second = { 0 };
  RabcRequest *request;

  service_start (&service, fixture->path, 0);
  rabc_server_set_reply (service.server, "server reply");
  g_signal_connect (service.server, "handle-request", G_CALLBACK (take_and_drop), &service);
  client = new_client (fixture->path);

  /* Dropped by the handler that took it. */
  expect_log (G_LOG_LEVEL_WARNING, "*released without an answer*");
  send_call (client, "drop", &first);
  wait_call (&first);
  assert_logs_seen ();
  g_assert_no_error (first.error);
  g_assert_cmpstr (first.reply, ==, "server reply");
  call_clear (&first);

  /* Dropped later, with an answered request waiting behind it. */
  send_call (client, "hold", &first);
  send_call (client, "next", &second);
  wait_for_held (&service, 1);
  run_until_idle ();
  g_assert_false (first.done);
  g_assert_false (second.done);
  g_assert_cmpuint (rabc_peer_get_n_pending (only_peer (&service)), ==, 1);

  expect_log (G_LOG_LEVEL_WARNING, "*released without an answer*");
  request = g_ptr_array_steal_index (service.held, 0);
  g_object_unref (request);
  assert_logs_seen ();
  wait_call (&second);
  g_assert_true (first.done);
  g_assert_cmpstr (first.reply, ==, "server reply");
  g_assert_cmpstr (second.reply, ==, "re:next");
  g_assert_cmpuint (rabc_peer_get_n_pending (only_peer (&service)), ==, 0);
  call_clear (&first);
  call_clear (&second);

  g_clear_object (&client);
  service_stop (&service);
}

static gboolean
answer_twice (RabcServer  *server,
              RabcRequest *request,
              Service     *service)
{
  if (!g_str_equal (rabc_request_get_message (request), "twice"))
    return hold_request (server, request, service);

  rabc_request_reply (request, "first");
  expect_log (G_LOG_LEVEL_CRITICAL, "*already answered*");
  rabc_request_reply (request, "second");
  assert_logs_seen ();
  expect_log (G_LOG_LEVEL_CRITICAL, "*already answered*");
  rabc_request_reply (request, NULL);
  assert_logs_seen ();
  return TRUE;
}

/* The held request, answered wrongly in every way: each answer must be
 * refused, and the request stay pending. */
static void
assert_bad_answers_refused (Service    *service,
                            const char *bad,
                            gsize       bad_len)
{
  RabcRequest *request = held_request (service, 0);
  RabcPeer *peer = rabc_request_get_peer (request);
  g_autoptr(GBytes) bytes = g_bytes_new (bad, bad_len);

  if (strlen (bad) == bad_len)
    {
      expect_log (G_LOG_LEVEL_CRITICAL, "*cannot send the reply*");
      rabc_request_reply (request, bad);
      assert_logs_seen ();
    }
  expect_log (G_LOG_LEVEL_CRITICAL, "*cannot send the reply*");
  rabc_request_reply_bytes (request, bytes);
  assert_logs_seen ();

  run_until_idle ();
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 1);
}

static void
test_bad_answers_ignored (Fixture       *fixture,
                          gconstpointer  data)
{
  Service service;
  g_autoptr(RabcClient) client = NULL;
  g_autofree char *too_long = g_strnfill (32, 'x');
  g_autofree char *longest = g_strnfill (31, 'y');
  Call call = { 0 };

  service_start (&service, fixture->path, 0);
  rabc_server_set_max_message_size (service.server, 32);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (answer_twice), &service);
  client = new_client (fixture->path);

  /* The first answer stands. */
  {
    g_autofree char *reply = round_trip (client, "twice");

    g_assert_cmpstr (reply, ==, "first");
  }

  /* Not UTF-8, then text, a NUL and a cut sequence, then a proper answer. */
  send_call (client, "utf8", &call);
  wait_for_held (&service, 1);
  assert_bad_answers_refused (&service, "\xff\xfe", 2);
  assert_bad_answers_refused (&service, "ok\0\xc3", 4);
  g_assert_false (call.done);
  rabc_request_reply (held_request (&service, 0), "fixed");
  g_ptr_array_set_size (service.held, 0);
  wait_call (&call);
  g_assert_no_error (call.error);
  g_assert_cmpstr (call.reply, ==, "fixed");
  call_clear (&call);

  /* As long as max-message-size, then one byte shorter. */
  send_call (client, "long", &call);
  wait_for_held (&service, 1);
  assert_bad_answers_refused (&service, too_long, 32);
  g_assert_false (call.done);
  rabc_request_reply (held_request (&service, 0), longest);
  g_ptr_array_set_size (service.held, 0);
  wait_call (&call);
  g_assert_no_error (call.error);
  g_assert_cmpstr (call.reply, ==, longest);
  call_clear (&call);

  g_clear_object (&client);
  service_stop (&service);
}

/* --- max-pending-requests ----------------------------------------------- */

#define N_BOUNDED 50
#define MAX_PENDING 4

static void
test_max_pending_requests (Fixture       *fixture,
                           gconstpointer  data)
{
  g_auto(GStrv) messages = numbered_messages ("r", N_BOUNDED);
  Service service;
  RawReader *reader;
  RabcPeer *peer;
  guint answered = 0;
  int fd;

  service_start (&service, fixture->path, MAX_PENDING);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  fd = rabc_test_connect_raw (fixture->path);
  reader = raw_reader_new (fd);
  write_frames (fd, (const char * const *) messages, N_BOUNDED);

  while (answered < N_BOUNDED)
    {
      guint batch = MIN (MAX_PENDING, N_BOUNDED - answered);

      wait_for_held (&service, batch);
      peer = only_peer (&service);

      /* With that many waiting, the client is not read: the server has
       * nothing more to do until an answer goes out. */
      run_until_idle ();
      g_assert_cmpuint (service.held->len, ==, batch);
      g_assert_cmpuint (service.n_requests, ==, answered + batch);
      g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, batch);
      for (guint i = 0; i < batch; i++)
        g_assert_cmpstr (rabc_request_get_message (held_request (&service, i)), ==,
                         messages[answered + i]);

      /* Answered but waiting behind the first, the others still count. */
      for (guint i = batch; i > 1; i--)
        answer_held (&service, i - 1);
      run_until_idle ();
      g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 1);
      g_assert_cmpuint (reader->frames->len, ==, answered);
      if (batch == MAX_PENDING)
        g_assert_cmpuint (service.n_requests, ==, answered + batch);

      answer_held (&service, 0);
      g_ptr_array_set_size (service.held, 0);
      answered += batch;
      raw_reader_wait (reader, answered);
    }

  g_assert_cmpuint (service.max_n_pending, ==, MAX_PENDING);
  for (guint i = 0; i < N_BOUNDED; i++)
    {
      g_autofree char *expected = g_strconcat ("re:", messages[i], NULL);

      g_assert_cmpstr (raw_reader_frame (reader, i), ==, expected);
    }
  run_until_idle ();
  g_assert_cmpuint (reader->frames->len, ==, N_BOUNDED);
  g_assert_cmpuint (service.n_requests, ==, N_BOUNDED);

  raw_reader_free (reader);
  close (fd);
  service_stop (&service);
}

#define LONG_REPLY_SIZE (256 * 1024)
#define N_LONG 64

/* Answers at once with LONG_REPLY_SIZE bytes: the message, then dots. */
static gboolean
reply_long (RabcServer  *server,
            RabcRequest *request,
            Service     *service)
{
  g_autofree char *reply = g_malloc (LONG_REPLY_SIZE + 1);
  const char *message = rabc_request_get_message (request);

  memset (reply, '.', LONG_REPLY_SIZE);
  memcpy (reply, message, strlen (message));
  reply[LONG_REPLY_SIZE] = '\0';
  service->n_requests++;
  rabc_request_reply (request, reply);
  return TRUE;
}

/* 64 small requests in one write, each answered at once with 256 KiB, by
 * a client that reads nothing yet: the server hands them to the handler
 * only while less than 1 MiB of replies waits, not all 64 (16 MiB) from
 * the one read; once the client reads, every reply comes, in order. */
static void
test_long_replies_wait_for_the_reader (Fixture       *fixture,
                                       gconstpointer  data)
{
  g_auto(GStrv) messages = numbered_messages ("long", N_LONG);
  Service service;
  RawReader *reader;
  int fd;

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (reply_long), &service);
  fd = rabc_test_connect_raw (fixture->path);
  /* Unix sockets take a write whole at once: what the server can do with
   * it, it has done once the context is idle. */
  write_frames (fd, (const char * const *) messages, N_LONG);
  run_until_idle ();

  /* 1 MiB waits in the server, the socket's buffers hold a few replies
   * more, and one reply may pass the limit. */
  g_test_message ("%u of %u requests handled before the client read", service.n_requests, N_LONG);
  g_assert_cmpuint (service.n_requests, >=, 4);
  g_assert_cmpuint (service.n_requests, <=, 16);

  reader = raw_reader_new (fd);
  raw_reader_wait (reader, N_LONG);
  for (guint i = 0; i < N_LONG; i++)
    {
      const char *frame = raw_reader_frame (reader, i);

      g_assert_cmpuint (strlen (frame), ==, LONG_REPLY_SIZE);
      g_assert_true (g_str_has_prefix (frame, messages[i]));
      g_assert_cmpint (frame[strlen (messages[i])], ==, '.');
    }
  g_assert_cmpuint (service.n_requests, ==, N_LONG);

  raw_reader_free (reader);
  close (fd);
  service_stop (&service);
}

/* @n requests, then shutdown(SHUT_WR), answered @max_pending at a time
 * (0: all at once) as the test holds them: all replies come, then the end. */
static void
run_half_closed (const char *path,
                 guint       n,
                 guint       max_pending)
{
  g_auto(GStrv) messages = numbered_messages ("h", n);
  Service service;
  RawReader *reader;
  guint answered = 0;
  int fd;

  service_start (&service, path, max_pending);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  fd = rabc_test_connect_raw (path);
  reader = raw_reader_new (fd);
  write_frames (fd, (const char * const *) messages, n);
  g_assert_cmpint (shutdown (fd, SHUT_WR), ==, 0);

  while (answered < n)
    {
      guint batch = max_pending > 0 ? MIN (max_pending, n - answered) : n;

      wait_for_held (&service, batch);
      /* The client said all it had to say, and waits: it stays. */
      run_until_idle ();
      g_assert_cmpuint (rabc_server_get_n_clients (service.server), ==, 1);
      g_assert_cmpuint (service.disconnected->len, ==, 0);
      g_assert_false (reader->eof);

      for (guint i = 0; i < batch; i++)
        answer_held (&service, i);
      g_ptr_array_set_size (service.held, 0);
      answered += batch;
      raw_reader_wait (reader, answered);
    }

  raw_reader_wait_eof (reader);
  g_assert_cmpuint (reader->frames->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *expected = g_strconcat ("re:", messages[i], NULL);

      g_assert_cmpstr (raw_reader_frame (reader, i), ==, expected);
    }
  wait_for_disconnected (&service, 1);
  g_assert_cmpuint (rabc_server_get_n_clients (service.server), ==, 0);

  raw_reader_free (reader);
  close (fd);
  service_stop (&service);
}

static void
test_half_closed (Fixture       *fixture,
                  gconstpointer  data)
{
  run_half_closed (fixture->path, 3, 0);
}

static void
test_half_closed_paused (Fixture       *fixture,
                         gconstpointer  data)
{
  run_half_closed (fixture->path, 11, 2);
}

static void
test_close_while_paused (Fixture       *fixture,
                         gconstpointer  data)
{
  g_auto(GStrv) messages = numbered_messages ("c", N_BOUNDED);
  Service service;
  RabcPeer *peer;
  int fd;

  service_start (&service, fixture->path, MAX_PENDING);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  fd = rabc_test_connect_raw (fixture->path);
  write_frames (fd, (const char * const *) messages, N_BOUNDED);
  wait_for_held (&service, MAX_PENDING);
  run_until_idle ();
  g_assert_cmpuint (service.n_requests, ==, MAX_PENDING);
  peer = only_peer (&service);

  /* Not read, and gone: dropped, once, and then nothing is left to do. */
  close (fd);
  wait_for_disconnected (&service, 1);
  g_assert_true (g_ptr_array_index (service.disconnected, 0) == peer);
  g_assert_cmpuint (rabc_server_get_n_clients (service.server), ==, 0);
  run_until_idle ();
  g_assert_cmpuint (service.disconnected->len, ==, 1);
  g_assert_cmpuint (service.n_requests, ==, MAX_PENDING);

  for (guint i = 0; i < MAX_PENDING; i++)
    answer_held (&service, i);
  g_ptr_array_set_size (service.held, 0);
  run_until_idle ();
  service_stop (&service);
}

/* --- closing peers, listing them ---------------------------------------- */

static gboolean
close_on_request (RabcServer  *server,
                  RabcRequest *request,
                  Service     *service)
{
  const char *message = rabc_request_get_message (request);
  RabcPeer *peer = rabc_request_get_peer (request);

  service->n_requests++;
  if (!g_str_equal (message, "close"))
    {
      reply_echo (request);
      return TRUE;
    }

  rabc_request_reply (request, "bye");
  rabc_peer_close (peer);
  /* From the server's thread, at once: the signal came before this. */
  g_assert_false (rabc_peer_get_connected (peer));
  g_assert_cmpuint (service->disconnected->len, ==, 1);
  g_assert_true (g_ptr_array_index (service->disconnected, 0) == peer);
  return TRUE;
}

static void
test_peer_close_from_handler (Fixture       *fixture,
                              gconstpointer  data)
{
  const char *messages[] = { "one", "close", "after" };
  Service service;
  RawReader *reader;
  int fd;

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (close_on_request), &service);
  fd = rabc_test_connect_raw (fixture->path);
  reader = raw_reader_new (fd);
  write_frames (fd, messages, 3);

  /* What was owed went out before the end; what came after is not read. */
  raw_reader_wait_eof (reader);
  g_assert_cmpuint (reader->frames->len, ==, 2);
  g_assert_cmpstr (raw_reader_frame (reader, 0), ==, "re:one");
  g_assert_cmpstr (raw_reader_frame (reader, 1), ==, "bye");
  g_assert_cmpuint (service.n_requests, ==, 2);
  g_assert_cmpuint (service.disconnected->len, ==, 1);
  g_assert_cmpuint (rabc_server_get_n_clients (service.server), ==, 0);

  raw_reader_free (reader);
  close (fd);
  service_stop (&service);
}

static gpointer
close_peer_in_thread (gpointer data)
{
  rabc_peer_close (data);
  return NULL;
}

static void
on_client_closed (RabcClient   *client,
                  const GError *error,
                  gboolean     *closed)
{
  *closed = TRUE;
}

static void
test_peer_close_from_thread (Fixture       *fixture,
                             gconstpointer  data)
{
  Service service;
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(RabcClient) other = NULL;
  Call call = { 0 };
  gboolean closed = FALSE;
  RabcPeer *peer;

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  client = new_client (fixture->path);
  g_signal_connect (client, "closed", G_CALLBACK (on_client_closed), &closed);
  send_call (client, "held", &call);
  wait_for_held (&service, 1);
  peer = only_peer (&service);
  other = new_client (fixture->path);

  /* The request taken is lost with the client. */
  run_in_thread (close_peer_in_thread, peer);
  wait_for_disconnected (&service, 1);
  g_assert_true (g_ptr_array_index (service.disconnected, 0) == peer);
  g_assert_false (rabc_peer_get_connected (peer));
  rabc_test_wait_for (&closed, WAIT_MS);
  wait_call (&call);
  g_assert_nonnull (call.error);
  call_clear (&call);
  answer_held (&service, 0);
  g_ptr_array_set_size (service.held, 0);

  /* The other client is still served. */
  g_signal_handlers_disconnect_by_func (service.server, hold_request, &service);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (reply_at_once),
                    &service.n_requests);
  {
    g_autofree char *reply = round_trip (other, "still here");

    g_assert_cmpstr (reply, ==, "re:still here");
  }
  g_assert_cmpuint (rabc_server_get_n_clients (service.server), ==, 1);

  g_clear_object (&client);
  g_clear_object (&other);
  service_stop (&service);
}

static gboolean
lists_peer (GList    *peers,
            RabcPeer *peer)
{
  return g_list_find (peers, peer) != NULL;
}

static gboolean
connected_reached (gpointer user_data)
{
  Service *service = ((gpointer *) user_data)[0];
  guint n = GPOINTER_TO_UINT (((gpointer *) user_data)[1]);

  return service->connected->len >= n;
}

static void
test_peers_and_own_credentials (Fixture       *fixture,
                                gconstpointer  data)
{
  Service service;
  RabcClient *clients[3];
  GList *peers;
  gpointer condition[] = { &service, GUINT_TO_POINTER (G_N_ELEMENTS (clients)) };

  service_start (&service, fixture->path, 0);
  peers = rabc_server_get_peers (service.server);
  g_assert_null (peers);

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    clients[i] = new_client (fixture->path);
  wait_until (connected_reached, condition);

  peers = rabc_server_get_peers (service.server);
  g_assert_cmpuint (g_list_length (peers), ==, G_N_ELEMENTS (clients));
  for (guint i = 0; i < service.connected->len; i++)
    {
      RabcPeer *peer = g_ptr_array_index (service.connected, i);
      int pid = 0;
      guint uid = 0, gid = 0;
      gboolean connected = FALSE;

      g_assert_true (lists_peer (peers, peer));
      g_assert_cmpint (rabc_peer_get_pid (peer), ==, getpid ());
      g_assert_cmpuint (rabc_peer_get_uid (peer), ==, getuid ());
      g_assert_cmpuint (rabc_peer_get_gid (peer), ==, getgid ());
      g_assert_true (rabc_peer_get_connected (peer));
      g_object_get (peer, "pid", &pid, "uid", &uid, "gid", &gid, "connected", &connected, NULL);
      g_assert_cmpint (pid, ==, getpid ());
      g_assert_cmpuint (uid, ==, getuid ());
      g_assert_cmpuint (gid, ==, getgid ());
      g_assert_true (connected);
    }
  g_list_free_full (peers, g_object_unref);

  /* One goes: the list drops it, and only it. */
  rabc_client_close (clients[1]);
  wait_for_disconnected (&service, 1);
  peers = rabc_server_get_peers (service.server);
  g_assert_cmpuint (g_list_length (peers), ==, 2);
  g_assert_false (lists_peer (peers, g_ptr_array_index (service.disconnected, 0)));
  for (guint i = 0; i < service.connected->len; i++)
    {
      RabcPeer *peer = g_ptr_array_index (service.connected, i);

      g_assert_true (lists_peer (peers, peer) == rabc_peer_get_connected (peer));
    }
  g_list_free_full (peers, g_object_unref);

  rabc_client_close (clients[0]);
  rabc_client_close (clients[2]);
  wait_for_disconnected (&service, 3);
  g_assert_null (rabc_server_get_peers (service.server));

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    g_object_unref (clients[i]);
  service_stop (&service);
}

/* --- another user ------------------------------------------------------- */

/* @name, created with useradd(8) when it does not exist yet; FALSE when it
 * cannot be. */
/* Tells each client its credentials as the server sees them. */
static gboolean
reply_credentials (RabcServer  *server,
                   RabcRequest *request,
                   gpointer     user_data)
{
  RabcPeer *peer = rabc_request_get_peer (request);
  g_autofree char *reply = g_strdup_printf ("pid %d uid %u gid %u", rabc_peer_get_pid (peer),
                                            rabc_peer_get_uid (peer), rabc_peer_get_gid (peer));

  rabc_request_reply (request, reply);
  return TRUE;
}

typedef struct {
  gboolean  done;
  char     *out;
  GError   *error;
} Communicated;

static void
on_communicated (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Communicated *communicated = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &communicated->out,
                                        NULL, &communicated->error);
  communicated->done = TRUE;
}

static void
test_other_user_credentials (Fixture       *fixture,
                             gconstpointer  data)
{
  const char *rabcc = g_getenv ("RABCC");
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *uid_arg = NULL, *gid_arg = NULL, *expected = NULL;
  Communicated communicated = { 0 };
  Service service;
  RabcPeer *peer;
  uid_t uid;
  gid_t gid;
  int pid;

  if (geteuid () != 0)
    {
      g_test_skip ("running a client as another user takes root");
      return;
    }
  if (!rabc_test_get_user (OTHER_USER, &uid, &gid))
    {
      g_test_skip ("cannot create the user " OTHER_USER " to run a client as");
      return;
    }
  g_assert_nonnull (rabcc);
  g_assert_cmpuint (uid, !=, geteuid ());

  /* The other user reaches the socket through the directory. */
  g_assert_cmpint (chmod (fixture->dir, 0711), ==, 0);
  service_init (&service, fixture->path, 0);
  rabc_server_set_socket_mode (service.server, 0666);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (reply_credentials), NULL);
  g_assert_true (rabc_server_start (service.server, &error));
  g_assert_no_error (error);

  uid_arg = g_strdup_printf ("--reuid=%u", (guint) uid);
  gid_arg = g_strdup_printf ("--regid=%u", (guint) gid);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                              "setpriv", uid_arg, gid_arg, "--clear-groups",
                              "--pdeathsig=KILL", "--",
                              rabcc, "--socket", fixture->path, "--count", "1",
                              "--interval", "1", NULL);
  g_assert_no_error (error);
  /* setpriv execs the client: the process is the one that connects. */
  pid = atoi (g_subprocess_get_identifier (process));

  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_communicated, &communicated);
  rabc_test_wait_for (&communicated.done, WAIT_MS);
  g_assert_no_error (communicated.error);
  g_subprocess_wait_check (process, NULL, &error);
  g_assert_no_error (error);

  peer = only_peer (&service);
  g_assert_cmpint (rabc_peer_get_pid (peer), ==, pid);
  g_assert_cmpuint (rabc_peer_get_uid (peer), ==, uid);
  g_assert_cmpuint (rabc_peer_get_gid (peer), ==, gid);
  expected = g_strdup_printf ("pid %d uid %u gid %u\n", pid, (guint) uid, (guint) gid);
  g_assert_cmpstr (communicated.out, ==, expected);
  wait_for_disconnected (&service, 1);

  g_free (communicated.out);
  service_stop (&service);
}

/* --- bytes -------------------------------------------------------------- */

static gboolean
reply_nul_bytes (RabcServer  *server,
                 RabcRequest *request,
                 Service     *service)
{
  GBytes *payload = rabc_request_get_payload (request);
  gsize size;
  const char *data = g_bytes_get_data (payload, &size);
  g_autoptr(GBytes) reply = g_bytes_new_static ("x\0y\0", 4);

  service->n_requests++;
  g_assert_cmpmem (data, size, "a\0b", 3);
  /* The data is followed by a NUL its size does not count. */
  g_assert_cmpint (data[size], ==, '\0');
  g_assert_cmpstr (rabc_request_get_message (request), ==, "a");

  {
    g_autofree char *message = NULL;
    g_autoptr(GBytes) property = NULL;

    g_object_get (request, "message", &message, "payload", &property, NULL);
    g_assert_cmpstr (message, ==, "a");
    g_assert_true (g_bytes_equal (property, payload));
  }

  rabc_request_reply_bytes (request, reply);
  return TRUE;
}

static gpointer
send_nul_bytes_sync (gpointer data)
{
  g_autoptr(GBytes) message = g_bytes_new_static ("a\0b", 3);
  g_autoptr(GError) error = NULL;
  GBytes *reply = rabc_client_send_bytes_sync (data, message, NULL, &error);

  g_assert_no_error (error);
  return reply;
}

static void
test_bytes_with_nul (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GBytes) message = g_bytes_new_static ("a\0b", 3);
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(RabcClient) client = NULL;
  Service service;
  Call call = { 0 };

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (reply_nul_bytes), &service);
  client = new_client (fixture->path);

  /* The synchronous call blocks its thread: the server runs in this one. */
  reply = run_in_thread (send_nul_bytes_sync, client);
  g_assert_cmpmem (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply), "x\0y\0", 4);

  rabc_client_send_bytes_async (client, message, NULL, on_bytes_call_done, &call);
  wait_call (&call);
  g_assert_no_error (call.error);
  g_assert_cmpmem (g_bytes_get_data (call.bytes, NULL), g_bytes_get_size (call.bytes),
                   "x\0y\0", 4);
  call_clear (&call);
  g_assert_cmpuint (service.n_requests, ==, 2);

  g_clear_object (&client);
  service_stop (&service);
}

/* --- the server going away ---------------------------------------------- */

static void
run_server_gone (const char *path,
                 gboolean    unref)
{
  g_autoptr(GBytes) bytes = g_bytes_new_static ("late", 4);
  g_autoptr(RabcClient) client = NULL;
  Service service;
  Call calls[3] = { { 0 } };
  RabcPeer *peer;

  service_start (&service, path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  client = new_client (path);
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    send_call (client, "held", &calls[i]);
  wait_for_held (&service, G_N_ELEMENTS (calls));
  peer = only_peer (&service);

  if (unref)
    g_clear_object (&service.server);
  else
    rabc_server_stop (service.server);
  g_assert_false (rabc_peer_get_connected (peer));
  g_assert_cmpuint (rabc_peer_get_n_pending (peer), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      wait_call (&calls[i]);
      g_assert_nonnull (calls[i].error);
      call_clear (&calls[i]);
    }

  /* Answers to nobody, from here and from another thread: nothing. */
  answer_held (&service, 0);
  run_in_thread (reply_echo_in_thread, held_request (&service, 1));
  rabc_request_reply_bytes (held_request (&service, 2), bytes);
  run_until_idle ();
  g_assert_cmpint (rabc_peer_get_pid (peer), ==, getpid ());
  g_assert_false (rabc_peer_get_connected (peer));
  g_ptr_array_set_size (service.held, 0);

  g_clear_object (&client);
  service_stop (&service);
}

static void
test_answer_after_server_stopped (Fixture       *fixture,
                                  gconstpointer  data)
{
  run_server_gone (fixture->path, FALSE);
}

static void
test_answer_after_server_unreffed (Fixture       *fixture,
                                   gconstpointer  data)
{
  run_server_gone (fixture->path, TRUE);
}

/* What a server in a thread of its own holds for the test: the requests
 * it takes. */
typedef struct {
  GMutex     lock;
  GPtrArray *held;
} ThreadHeld;

static gboolean
hold_in_server_thread (RabcServer  *server,
                       RabcRequest *request,
                       ThreadHeld  *held)
{
  g_mutex_lock (&held->lock);
  g_ptr_array_add (held->held, g_object_ref (request));
  g_mutex_unlock (&held->lock);
  g_main_context_wakeup (NULL);
  return TRUE;
}

static void
connect_hold_in_server_thread (RabcServer *server,
                               gpointer    user_data)
{
  g_signal_connect (server, "handle-request", G_CALLBACK (hold_in_server_thread), user_data);
}

static gboolean
server_thread_holds_two (gpointer data)
{
  ThreadHeld *held = data;
  gboolean reached;

  g_mutex_lock (&held->lock);
  reached = held->held->len >= 2;
  g_mutex_unlock (&held->lock);
  return reached;
}

static void
test_answer_after_server_context_ended (Fixture       *fixture,
                                        gconstpointer  data)
{
  ThreadHeld held = { .held = g_ptr_array_new_with_free_func (g_object_unref) };
  RabcTestServerThread *thread = NULL;
  g_autoptr(RabcClient) client = NULL;
  Call calls[2] = { { 0 } };
  RabcPeer *peer;

  g_mutex_init (&held.lock);
  thread = rabc_test_server_thread_new_full (fixture->path, connect_hold_in_server_thread, &held);

  client = new_client (fixture->path);
  send_call (client, "one", &calls[0]);
  send_call (client, "two", &calls[1]);
  wait_until (server_thread_holds_two, &held);

  /* The server stops, its thread ends, and nothing runs its context any
   * more. */
  rabc_test_server_thread_free (thread);
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      wait_call (&calls[i]);
      g_assert_nonnull (calls[i].error);
      call_clear (&calls[i]);
    }

  peer = rabc_request_get_peer (g_ptr_array_index (held.held, 0));
  g_assert_false (rabc_peer_get_connected (peer));
  g_object_add_weak_pointer (G_OBJECT (peer), (gpointer *) &peer);

  /* Answers to a client that is gone are dropped, from this thread and
   * from another, and closing it does nothing: once the requests are
   * released, nothing of the connection is left, its peer included. */
  reply_echo (g_ptr_array_index (held.held, 0));
  run_in_thread (reply_echo_in_thread, g_ptr_array_index (held.held, 1));
  rabc_peer_close (peer);
  g_ptr_array_unref (held.held);
  run_until_idle ();
  g_assert_null (peer);

  g_mutex_clear (&held.lock);
  g_clear_object (&client);
}

/* --- across connections ------------------------------------------------- */

/* "hold" is held; "release" answers every request held, from any client,
 * then its own. */
static gboolean
hold_or_release (RabcServer  *server,
                 RabcRequest *request,
                 Service     *service)
{
  RabcPeer *peer = rabc_request_get_peer (request);

  if (g_str_equal (rabc_request_get_message (request), "hold"))
    return hold_request (server, request, service);

  for (guint i = 0; i < service->held->len; i++)
    {
      RabcRequest *held = held_request (service, i);

      g_assert_true (rabc_request_get_peer (held) != peer);
      rabc_request_reply (held, "released by the other client");
    }
  g_ptr_array_set_size (service->held, 0);
  rabc_request_reply (request, "released");
  return TRUE;
}

static void
test_answer_other_clients_request (Fixture       *fixture,
                                   gconstpointer  data)
{
  g_autoptr(RabcClient) a = NULL;
  g_autoptr(RabcClient) b = NULL;
  Service service;
  Call held = { 0 }, release = { 0 };

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_or_release), &service);
  a = new_client (fixture->path);
  b = new_client (fixture->path);

  send_call (a, "hold", &held);
  wait_for_held (&service, 1);
  run_until_idle ();
  g_assert_false (held.done);

  send_call (b, "release", &release);
  wait_call (&release);
  wait_call (&held);
  g_assert_no_error (held.error);
  g_assert_no_error (release.error);
  g_assert_cmpstr (held.reply, ==, "released by the other client");
  g_assert_cmpstr (release.reply, ==, "released");
  call_clear (&held);
  call_clear (&release);

  /* Both stay connected and served. */
  send_call (a, "hold", &held);
  wait_for_held (&service, 1);
  send_call (b, "release", &release);
  wait_call (&held);
  wait_call (&release);
  g_assert_cmpstr (held.reply, ==, "released by the other client");
  g_assert_cmpstr (release.reply, ==, "released");
  call_clear (&held);
  call_clear (&release);

  g_clear_object (&a);
  g_clear_object (&b);
  service_stop (&service);
}

/* --- requests of a client that is gone ---------------------------------- */

static void
test_gone_request_needs_no_answer (Fixture       *fixture,
                                   gconstpointer  data)
{
  const char *messages[] = { "one", "two" };
  Service service;
  int fd;

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  fd = rabc_test_connect_raw (fixture->path);
  write_frames (fd, messages, 2);
  wait_for_held (&service, 2);
  close (fd);
  wait_for_disconnected (&service, 1);

  /* RabcServer::client-disconnected: the requests still held need no
   * answer.  Letting them go is no bug, and logs nothing (a warning would
   * fail the test). */
  g_ptr_array_set_size (service.held, 0);
  run_until_idle ();
  service_stop (&service);
}

/* --- the thread signals come in ---------------------------------------- */

/* The server runs in this thread, on the global default context, which
 * no thread iterates while another one closes a peer or answers a
 * request: what follows must still happen in this thread, at its next
 * iteration, and not in the other thread, which could acquire the context
 * meanwhile. */
static void
test_close_from_thread_signals_in_server_thread (Fixture       *fixture,
                                                 gconstpointer  data)
{
  g_autoptr(RabcClient) client = NULL;
  gpointer condition[] = { NULL, GUINT_TO_POINTER (1) };
  Service service;

  service_start (&service, fixture->path, 0);
  client = new_client (fixture->path);
  condition[0] = &service;
  wait_until (connected_reached, condition);

  g_thread_join (g_thread_new ("rabc-test-closer", close_peer_in_thread, only_peer (&service)));
  wait_for_disconnected (&service, 1);
  g_assert_true (service.disconnected_thread == main_thread);

  g_clear_object (&client);
  service_stop (&service);
}

static void
test_reply_from_thread_notifies_in_server_thread (Fixture       *fixture,
                                                  gconstpointer  data)
{
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(RabcRequest) request = NULL;
  Service service;
  Call call = { 0 };

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  client = new_client (fixture->path);
  send_call (client, "held", &call);
  wait_for_held (&service, 1);
  g_assert_true (service.n_pending_thread == main_thread);
  service.n_pending_thread = NULL;

  request = g_ptr_array_steal_index (service.held, 0);
  g_thread_join (g_thread_new ("rabc-test-replier", reply_echo_in_thread, request));
  wait_call (&call);
  g_assert_cmpstr (call.reply, ==, "re:held");
  g_assert_cmpuint (rabc_peer_get_n_pending (only_peer (&service)), ==, 0);
  g_assert_true (service.n_pending_thread == main_thread);
  call_clear (&call);

  g_clear_object (&client);
  service_stop (&service);
}

/* --- what the hostile review found -------------------------------------- */

/* Drops the last reference to the server once its peer has nothing
 * pending any more, from notify::n-pending. */
static void
drop_server_when_idle (RabcPeer   *peer,
                       GParamSpec *pspec,
                       Service    *service)
{
  if (rabc_peer_get_n_pending (peer) == 0)
    g_clear_object (&service->server);
}

static void
drop_server_on_disconnected (RabcServer *server,
                             RabcPeer   *peer,
                             Service    *service)
{
  g_clear_object (&service->server);
}

static gboolean
answer_first_held (gpointer user_data)
{
  Service *service = user_data;

  answer_held (service, 0);
  return G_SOURCE_REMOVE;
}

static gboolean
close_only_peer (gpointer user_data)
{
  rabc_peer_close (only_peer (user_data));
  return G_SOURCE_REMOVE;
}

static gboolean
pointer_cleared (gpointer user_data)
{
  return *(gpointer *) user_data == NULL;
}

enum {
  UNREF_ANSWER_FROM_TIMEOUT,
  UNREF_CLOSE_FROM_TIMEOUT,
  UNREF_ANSWER_FROM_THREAD,
};

/* The last reference to the server goes in a signal the server emits
 * outside its own dispatch, from rabc_request_reply() or
 * rabc_peer_close(): the server must not use itself after (valgrind and
 * ASan see it if it does), and is finalized. */
static void
run_unref_in_signal (const char *path,
                     int         how)
{
  gpointer weak_server;
  Service service;
  int fd;

  service_start (&service, path, 0);
  weak_server = service.server;
  g_object_add_weak_pointer (G_OBJECT (service.server), &weak_server);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
  fd = rabc_test_connect_raw (path);
  rabc_test_write_frame (fd, "hi", 2);
  wait_for_held (&service, 1);

  switch (how)
    {
    case UNREF_ANSWER_FROM_TIMEOUT:
      g_signal_connect (only_peer (&service), "notify::n-pending",
                        G_CALLBACK (drop_server_when_idle), &service);
      g_timeout_add (0, answer_first_held, &service);
      break;
    case UNREF_CLOSE_FROM_TIMEOUT:
      g_signal_connect (service.server, "client-disconnected",
                        G_CALLBACK (drop_server_on_disconnected), &service);
      g_timeout_add (0, close_only_peer, &service);
      break;
    case UNREF_ANSWER_FROM_THREAD:
      g_signal_connect (only_peer (&service), "notify::n-pending",
                        G_CALLBACK (drop_server_when_idle), &service);
      run_in_thread (reply_echo_in_thread, held_request (&service, 0));
      break;
    }
  wait_until (pointer_cleared, &weak_server);
  g_assert_null (service.server);
  run_until_idle ();

  g_ptr_array_set_size (service.held, 0);
  close (fd);
  service_stop (&service);
}

static void
test_unref_server_from_signal_of_an_answer (Fixture       *fixture,
                                            gconstpointer  data)
{
  run_unref_in_signal (fixture->path, UNREF_ANSWER_FROM_TIMEOUT);
  run_unref_in_signal (fixture->path, UNREF_CLOSE_FROM_TIMEOUT);
  run_unref_in_signal (fixture->path, UNREF_ANSWER_FROM_THREAD);
}

static void
on_request_notify (GObject    *object,
                   GParamSpec *pspec,
                   gpointer    user_data)
{
}

static void
count_closure_destroyed (gpointer  data,
                         GClosure *closure)
{
  (*(guint *) data)++;
}

typedef struct {
  const char *signal;
  gboolean    block;
  guint       n_requests;
  guint       n_destroyed;
} NotifyOnRequest;

static gboolean
connect_notify_and_reply (RabcServer      *server,
                          RabcRequest     *request,
                          NotifyOnRequest *notify)
{
  gulong id;

  /* Every request before this one is gone, and its handler with it. */
  g_assert_cmpuint (notify->n_destroyed, ==, notify->n_requests);
  notify->n_requests++;
  id = g_signal_connect_data (request, notify->signal, G_CALLBACK (on_request_notify),
                              &notify->n_destroyed, count_closure_destroyed, 0);
  if (notify->block)
    g_signal_handler_block (request, id);
  reply_echo (request);
  return TRUE;
}

#define N_NOTIFIED 5

/* A handler connects a notify::DETAIL handler to each request, answers
 * and returns: the request is not kept for reuse with that handler, which
 * goes when the request does. */
static void
test_request_with_notify_handler_not_reused (Fixture       *fixture,
                                             gconstpointer  data)
{
  NotifyOnRequest cases[] = {
    { "notify::message", FALSE },
    /* Blocked, and for a property that never changes: still a handler. */
    { "notify::peer", TRUE },
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      NotifyOnRequest *notify = &cases[c];
      Service service;
      RawReader *reader;
      int fd;

      service_start (&service, fixture->path, 0);
      g_signal_connect (service.server, "handle-request", G_CALLBACK (connect_notify_and_reply),
                        notify);
      fd = rabc_test_connect_raw (fixture->path);
      reader = raw_reader_new (fd);

      /* One at a time, so that each is released before the next comes. */
      for (guint i = 0; i < N_NOTIFIED; i++)
        {
          g_autofree char *message = g_strdup_printf ("m%u", i);

          rabc_test_write_frame (fd, message, strlen (message));
          raw_reader_wait (reader, i + 1);
          run_until_idle ();
          g_assert_cmpuint (notify->n_requests, ==, i + 1);
          g_assert_cmpuint (notify->n_destroyed, ==, i + 1);
        }

      raw_reader_free (reader);
      close (fd);
      service_stop (&service);
      g_assert_cmpuint (notify->n_destroyed, ==, N_NOTIFIED);
    }
}

typedef struct {
  gboolean  stop;
  gboolean  disconnected;
  gpointer  weak_peer;
} OwnPeerEnd;

static void
watch_gone_peer (RabcServer *server,
                 RabcPeer   *peer,
                 OwnPeerEnd *end)
{
  g_assert_false (end->disconnected);
  end->disconnected = TRUE;
  end->weak_peer = peer;
  g_object_add_weak_pointer (G_OBJECT (peer), &end->weak_peer);
}

static gboolean
reply_and_end_own_peer (RabcServer  *server,
                        RabcRequest *request,
                        OwnPeerEnd  *end)
{
  rabc_request_reply (request, "bye");
  if (end->stop)
    rabc_server_stop (server);
  else
    rabc_peer_close (rabc_request_get_peer (request));
  g_assert_true (end->disconnected);
  return TRUE;
}

/* A handler answers, then closes its own peer or stops the server: once
 * it returned, the application holding no reference, the peer goes; no
 * request kept for reuse keeps it until the server goes. */
static void
test_closed_peer_not_kept (Fixture       *fixture,
                           gconstpointer  data)
{
  for (guint stop = 0; stop < 2; stop++)
    {
      g_autoptr(GError) error = NULL;
      OwnPeerEnd end = { .stop = stop };
      RabcServer *server = rabc_server_new (fixture->path);
      RawReader *reader;
      int fd;

      g_signal_connect (server, "client-disconnected", G_CALLBACK (watch_gone_peer), &end);
      g_signal_connect (server, "handle-request", G_CALLBACK (reply_and_end_own_peer), &end);
      g_assert_true (rabc_server_start (server, &error));
      g_assert_no_error (error);
      fd = rabc_test_connect_raw (fixture->path);
      reader = raw_reader_new (fd);
      rabc_test_write_frame (fd, "hello", 5);

      raw_reader_wait_eof (reader);
      g_assert_cmpuint (reader->frames->len, ==, 1);
      g_assert_cmpstr (raw_reader_frame (reader, 0), ==, "bye");
      run_until_idle ();
      g_assert_true (end.disconnected);
      g_assert_null (end.weak_peer);

      raw_reader_free (reader);
      close (fd);
      g_object_unref (server);
    }
}

static gboolean
reply_and_stop_on_stop (RabcServer  *server,
                        RabcRequest *request,
                        Service     *service)
{
  service->n_requests++;
  reply_echo (request);
  if (g_str_equal (rabc_request_get_message (request), "stop"))
    rabc_server_stop (server);
  return TRUE;
}

/* Three requests in one read, each answered at once, the last stopping
 * the server: all three replies go out before the end. */
static void
test_stop_in_handler_writes_answers (Fixture       *fixture,
                                     gconstpointer  data)
{
  const char *messages[] = { "a", "b", "stop" };
  Service service;
  RawReader *reader;
  int fd;

  service_start (&service, fixture->path, 0);
  g_signal_connect (service.server, "handle-request", G_CALLBACK (reply_and_stop_on_stop),
                    &service);
  fd = rabc_test_connect_raw (fixture->path);
  reader = raw_reader_new (fd);
  write_frames (fd, messages, 3);

  raw_reader_wait_eof (reader);
  g_assert_cmpuint (reader->frames->len, ==, 3);
  g_assert_cmpstr (raw_reader_frame (reader, 0), ==, "re:a");
  g_assert_cmpstr (raw_reader_frame (reader, 1), ==, "re:b");
  g_assert_cmpstr (raw_reader_frame (reader, 2), ==, "re:stop");
  g_assert_cmpuint (service.n_requests, ==, 3);

  raw_reader_free (reader);
  close (fd);
  service_stop (&service);
}

static void
stop_on_fourth_message (RabcServer *server,
                        const char *message,
                        guint      *n_seen)
{
  if (++*n_seen == 4)
    rabc_server_stop (server);
}

/* The replies of a turn for the round's pool are held until the end of
 * that pass: two clients sending long messages, the second stopping the
 * server from ::message-received in the turn after the first's, and the
 * first still has its held reply written before the end. */
static void
test_stop_in_long_message_turn_writes_answer (Fixture       *fixture,
                                              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(RabcServer) server = rabc_server_new (fixture->path);
  const gsize len = 100 * 1024;
  g_autofree char *text = g_malloc (len);
  RawReader *first, *second;
  guint n_seen = 0;
  int fds[2];

  memset (text, 'x', len);
  g_signal_connect (server, "message-received", G_CALLBACK (stop_on_fourth_message), &n_seen);
  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    fds[i] = rabc_test_connect_raw (fixture->path);
  first = raw_reader_new (fds[0]);
  second = raw_reader_new (fds[1]);

  /* Each reads a long message between frames, the first a round before
   * the second, and so comes first in the pool's turns after. */
  rabc_test_write_frame (fds[0], text, len);
  raw_reader_wait (first, 1);
  rabc_test_write_frame (fds[1], text, len);
  raw_reader_wait (second, 1);
  rabc_test_write_frame (fds[0], text, len);
  rabc_test_write_frame (fds[1], text, len);

  raw_reader_wait_eof (first);
  raw_reader_wait_eof (second);
  g_assert_cmpuint (n_seen, ==, 4);
  g_assert_cmpuint (first->frames->len, ==, 2);
  g_assert_cmpstr (raw_reader_frame (first, 1), ==, "pong");
  g_assert_cmpuint (second->frames->len, ==, 1);

  raw_reader_free (first);
  raw_reader_free (second);
  for (guint i = 0; i < 2; i++)
    close (fds[i]);
}

static gboolean
reply_handled (RabcServer  *server,
               RabcRequest *request,
               gpointer     user_data)
{
  rabc_request_reply (request, "handled");
  return TRUE;
}

static void
enable_handler_on_message (RabcServer *server,
                           const char *message,
                           gpointer    user_data)
{
  if (g_str_equal (message, "enable"))
    g_signal_connect (server, "handle-request", G_CALLBACK (reply_handled), NULL);
}

static void
count_message (RabcServer *server,
               const char *message,
               guint      *n_seen)
{
  (*n_seen)++;
}

static gboolean
watch_on_request (RabcServer  *server,
                  RabcRequest *request,
                  guint       *n_seen)
{
  if (g_str_equal (rabc_request_get_message (request), "watch"))
    g_signal_connect (server, "message-received", G_CALLBACK (count_message), n_seen);
  return FALSE;
}

/* A handler connected during a read round, from ::message-received or
 * from ::handle-request, sees the very next message of that read. */
static void
test_handler_connected_mid_read (Fixture       *fixture,
                                 gconstpointer  data)
{
  const char *enable[] = { "enable", "x" };
  const char *watch[] = { "watch", "a", "b" };
  Service service;
  RawReader *reader;
  guint n_seen = 0;
  int fd;

  /* No handler until "enable" comes: "x", in the same write, gets the new
   * handler's reply, not the server's. */
  service_start (&service, fixture->path, 0);
  rabc_server_set_reply (service.server, "pong");
  g_signal_connect (service.server, "message-received", G_CALLBACK (enable_handler_on_message),
                    NULL);
  fd = rabc_test_connect_raw (fixture->path);
  reader = raw_reader_new (fd);
  write_frames (fd, enable, 2);
  raw_reader_wait (reader, 2);
  g_assert_cmpstr (raw_reader_frame (reader, 1), ==, "handled");
  raw_reader_free (reader);
  close (fd);
  service_stop (&service);

  service_start (&service, fixture->path, 0);
  rabc_server_set_reply (service.server, "pong");
  g_signal_connect (service.server, "handle-request", G_CALLBACK (watch_on_request), &n_seen);
  fd = rabc_test_connect_raw (fixture->path);
  reader = raw_reader_new (fd);
  write_frames (fd, watch, 3);
  raw_reader_wait (reader, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (raw_reader_frame (reader, i), ==, "pong");
  g_assert_cmpuint (n_seen, ==, 2);
  raw_reader_free (reader);
  close (fd);
  service_stop (&service);
}

#define N_HUGE 2000
/* Reading all of N_HUGE small requests at once takes a few iterations;
 * the bound wrapped around, one request or none each. */
#define HUGE_MAX_ITERATIONS (N_HUGE / 10)

/* max-pending-requests above 2^29: the server's bound on a read does not
 * wrap around (to nothing, a critical, or to a header a read). */
static void
test_huge_max_pending_requests (Fixture       *fixture,
                                gconstpointer  data)
{
  const guint maxima[] = { 536870912, 536870913 };

  for (guint m = 0; m < G_N_ELEMENTS (maxima); m++)
    {
      g_auto(GStrv) messages = numbered_messages ("p", N_HUGE);
      Service service;
      RawReader *reader;
      guint n_iterations = 0;
      int fd;

      service_start (&service, fixture->path, maxima[m]);
      g_signal_connect (service.server, "handle-request", G_CALLBACK (hold_request), &service);
      fd = rabc_test_connect_raw (fixture->path);
      reader = raw_reader_new (fd);
      write_frames (fd, (const char * const *) messages, N_HUGE);

      /* The whole write is in the socket: each iteration has something to
       * do until all of it is handled. */
      while (service.held->len < N_HUGE)
        {
          g_main_context_iteration (NULL, TRUE);
          if (++n_iterations > HUGE_MAX_ITERATIONS)
            g_error ("max-pending-requests %u: %u of %u requests handled in %u iterations",
                     maxima[m], service.held->len, N_HUGE, n_iterations);
        }
      g_test_message ("max-pending-requests %u: %u requests in %u iterations",
                      maxima[m], N_HUGE, n_iterations);
      g_assert_cmpuint (rabc_peer_get_n_pending (only_peer (&service)), ==, N_HUGE);

      for (guint i = 0; i < N_HUGE; i++)
        answer_held (&service, i);
      g_ptr_array_set_size (service.held, 0);
      raw_reader_wait (reader, N_HUGE);
      for (guint i = 0; i < N_HUGE; i++)
        {
          g_autofree char *expected = g_strconcat ("re:", messages[i], NULL);

          g_assert_cmpstr (raw_reader_frame (reader, i), ==, expected);
        }

      raw_reader_free (reader);
      close (fd);
      service_stop (&service);
    }
}

#define N_GREEDY 200
#define GREEDY_PINGS 300

typedef struct {
  guint       n_connected;
  guint       n_handled;
  /* Messages of each peer in the current round. */
  GHashTable *in_round;
  guint       most_in_round;
} Turns;

static void
count_connected (RabcServer *server,
                 RabcPeer   *peer,
                 Turns      *turns)
{
  turns->n_connected++;
}

static gboolean
count_turn (RabcServer  *server,
            RabcRequest *request,
            Turns       *turns)
{
  RabcPeer *peer = rabc_request_get_peer (request);
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (turns->in_round, peer)) + 1;

  g_hash_table_insert (turns->in_round, peer, GUINT_TO_POINTER (n));
  turns->most_in_round = MAX (turns->most_in_round, n);
  turns->n_handled++;
  /* The server's reply. */
  return FALSE;
}

static gboolean
all_connected (gpointer user_data)
{
  Turns *turns = user_data;

  return turns->n_connected == N_GREEDY;
}

/* Two hundred clients, each with 300 pings waiting in its socket: a round
 * of the main loop reads each the least share, 512 bytes, so that no
 * client has more than 65 messages handled before the others' turn. */
static void
test_many_pipelining_clients_take_turns (Fixture       *fixture,
                                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(RabcServer) server = rabc_server_new (fixture->path);
  g_autoptr(GString) pings = g_string_new (NULL);
  Turns turns = { .in_round = g_hash_table_new (NULL, NULL) };
  int fds[N_GREEDY];
  guint n_rounds = 0;

  g_signal_connect (server, "client-connected", G_CALLBACK (count_connected), &turns);
  g_signal_connect (server, "handle-request", G_CALLBACK (count_turn), &turns);
  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < N_GREEDY; i++)
    fds[i] = rabc_test_connect_raw (fixture->path);
  wait_until (all_connected, &turns);

  /* All of it is in the sockets before the server reads any. */
  for (guint i = 0; i < GREEDY_PINGS; i++)
    {
      guint8 frame[RABC_FRAME_HEADER_SIZE + 4];

      rabc_frame_write (frame, "ping", 4);
      g_string_append_len (pings, (const char *) frame, sizeof frame);
    }
  for (guint i = 0; i < N_GREEDY; i++)
    g_assert_cmpint (write (fds[i], pings->str, pings->len), ==, (gssize) pings->len);

  /* One iteration of the main context is one round of the server's. */
  while (turns.n_handled < N_GREEDY * GREEDY_PINGS)
    {
      g_hash_table_remove_all (turns.in_round);
      g_main_context_iteration (NULL, TRUE);
      g_assert_cmpuint (++n_rounds, <=, 100);
    }
  /* A read of N bytes ends at most N / 8 + 1 messages. */
  g_assert_cmpuint (turns.most_in_round, >, 0);
  g_assert_cmpuint (turns.most_in_round, <=, 512 / RABC_FRAME_HEADER_SIZE + 1);

  for (guint i = 0; i < N_GREEDY; i++)
    close (fds[i]);
  g_hash_table_unref (turns.in_round);
}


#define N_LONG_SENDERS 40
#define LONG_MESSAGE_SIZE (64 * 1024)

typedef struct {
  guint       n_connected;
  guint       n_long;
  /* Long messages handled of each peer, and in the current round. */
  GHashTable *of_peer;
  guint       in_round;
  guint       most_in_round;
  guint       first_done;
  gboolean    second_too_soon;
  guint       victim_round;
  guint       round;
  /* The server's ends of the clients' sockets, and which of them held
   * the start of a frame that was not read whole after the first round. */
  GArray     *accepted;
  GHashTable *started_in_first;
  guint       started_later;
} LongTurns;

static void
count_long_connected (RabcServer *server,
                      RabcPeer   *peer,
                      LongTurns  *turns)
{
  turns->n_connected++;
}

static gboolean
count_long_turn (RabcServer  *server,
                 RabcRequest *request,
                 LongTurns   *turns)
{
  RabcPeer *peer = rabc_request_get_peer (request);
  guint n;

  if (strcmp (rabc_request_get_message (request), "ping") == 0)
    {
      turns->victim_round = turns->round;
      return FALSE;
    }
  n = GPOINTER_TO_UINT (g_hash_table_lookup (turns->of_peer, peer)) + 1;
  g_hash_table_insert (turns->of_peer, peer, GUINT_TO_POINTER (n));
  if (n == 1)
    turns->first_done++;
  else if (turns->first_done < N_LONG_SENDERS)
    turns->second_too_soon = TRUE;
  turns->in_round++;
  turns->most_in_round = MAX (turns->most_in_round, turns->in_round);
  turns->n_long++;
  return FALSE;
}

static gboolean
all_long_connected (gpointer user_data)
{
  LongTurns *turns = user_data;

  return turns->n_connected == N_LONG_SENDERS + 1;
}

/* The descriptors of this process accepted on @path: the server's ends of
 * its clients' sockets. */
static GArray *
list_accepted_sockets (const char *path)
{
  GArray *fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      int fd = atoi (name);
      struct sockaddr_un addr = { 0 };
      socklen_t len = sizeof addr;
      int listening = 0;
      socklen_t option_len = sizeof listening;

      if (getsockname (fd, (struct sockaddr *) &addr, &len) < 0 || addr.sun_family != AF_UNIX ||
          strcmp (addr.sun_path, path) != 0 ||
          getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &option_len) < 0 || listening)
        continue;
      g_array_append_val (fds, fd);
    }
  return fds;
}

/* Notes which of the server's sockets hold the rest of a frame whose
 * start was read, after a round of the server's. */
static void
note_started_frames (LongTurns *turns)
{
  for (guint i = 0; i < turns->accepted->len; i++)
    {
      int fd = g_array_index (turns->accepted, int, i);
      int unread = 0;

      g_assert_cmpint (ioctl (fd, FIONREAD, &unread), ==, 0);
      if (unread % (RABC_FRAME_HEADER_SIZE + LONG_MESSAGE_SIZE) == 0)
        continue;
      if (turns->round == 1)
        g_hash_table_add (turns->started_in_first, GINT_TO_POINTER (fd));
      else if (!g_hash_table_contains (turns->started_in_first, GINT_TO_POINTER (fd)))
        turns->started_later++;
    }
}

/* Forty clients, each with two messages of 64 KiB waiting in its socket,
 * and one with a ping: a round finishes at most what its pool of 1 MiB
 * and its reads between frames hold, the ping is answered in the first
 * round, no client has its second message answered before every client
 * had its first, and after the first round no message is started in a
 * round that cannot finish it. */
static void
test_long_messages_take_turns (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(RabcServer) server = rabc_server_new (fixture->path);
  g_autofree char *text = g_malloc (LONG_MESSAGE_SIZE);
  g_autofree guint8 *frames = g_malloc (2 * (RABC_FRAME_HEADER_SIZE + LONG_MESSAGE_SIZE));
  LongTurns turns = { .of_peer = g_hash_table_new (NULL, NULL),
                      .started_in_first = g_hash_table_new (NULL, NULL) };
  guint8 ping[RABC_FRAME_HEADER_SIZE + 4];
  int sndbuf = 1024 * 1024;
  int fds[N_LONG_SENDERS];
  int victim;

  memset (text, 'x', LONG_MESSAGE_SIZE);
  for (guint i = 0; i < 2; i++)
    rabc_frame_write (frames + i * (RABC_FRAME_HEADER_SIZE + LONG_MESSAGE_SIZE), text, LONG_MESSAGE_SIZE);
  rabc_frame_write (ping, "ping", 4);

  g_object_set (server, "max-message-size", 2 * LONG_MESSAGE_SIZE, NULL);
  g_signal_connect (server, "client-connected", G_CALLBACK (count_long_connected), &turns);
  g_signal_connect (server, "handle-request", G_CALLBACK (count_long_turn), &turns);
  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < N_LONG_SENDERS; i++)
    {
      fds[i] = rabc_test_connect_raw (fixture->path);
      /* Room for both messages in the socket (as root). */
      g_assert_cmpint (setsockopt (fds[i], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf), ==, 0);
    }
  victim = rabc_test_connect_raw (fixture->path);
  wait_until (all_long_connected, &turns);
  turns.accepted = list_accepted_sockets (fixture->path);
  g_assert_cmpuint (turns.accepted->len, ==, N_LONG_SENDERS + 1);

  /* All of it is in the sockets before the server reads any. */
  for (guint i = 0; i < N_LONG_SENDERS; i++)
    g_assert_cmpint (write (fds[i], frames, 2 * (RABC_FRAME_HEADER_SIZE + LONG_MESSAGE_SIZE)), ==,
                     2 * (RABC_FRAME_HEADER_SIZE + LONG_MESSAGE_SIZE));
  g_assert_cmpint (write (victim, ping, sizeof ping), ==, sizeof ping);

  /* One iteration of the main context is one round of the server's. */
  while (turns.n_long < 2 * N_LONG_SENDERS || turns.victim_round == 0)
    {
      turns.in_round = 0;
      turns.round++;
      g_main_context_iteration (NULL, TRUE);
      g_assert_cmpuint (turns.round, <=, 100);
      note_started_frames (&turns);
    }
  g_test_message ("%u long messages in %u rounds, at most %u a round", 2 * N_LONG_SENDERS,
                  turns.round, turns.most_in_round);
  g_assert_cmpuint (turns.victim_round, ==, 1);
  g_assert_false (turns.second_too_soon);
  /* The pool and the reads between frames: (1 MiB + 64 KiB) / 64 KiB. */
  g_assert_cmpuint (turns.most_in_round, >, 0);
  g_assert_cmpuint (turns.most_in_round, <=, (1024 + 64) * 1024 / (RABC_FRAME_HEADER_SIZE + LONG_MESSAGE_SIZE));
  /* The first round starts the frames of those it cannot finish; after
   * it, a client waits for the turn that reads its next frame whole. */
  g_assert_cmpuint (g_hash_table_size (turns.started_in_first), >, 0);
  g_assert_cmpuint (turns.started_later, ==, 0);

  for (guint i = 0; i < N_LONG_SENDERS; i++)
    close (fds[i]);
  close (victim);
  g_hash_table_unref (turns.of_peer);
  g_hash_table_unref (turns.started_in_first);
  g_array_unref (turns.accepted);
}

int
main (int   argc,
      char *argv[])
{
  g_log_set_writer_func (expecting_log_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  main_thread = g_thread_self ();

  RABC_TEST_ADD ("/rabc/service/reply-at-once", test_reply_at_once);
  RABC_TEST_ADD ("/rabc/service/reply-later-from-timeout", test_reply_later_from_timeout);
  RABC_TEST_ADD ("/rabc/service/replies-in-request-order", test_replies_in_request_order);
  RABC_TEST_ADD ("/rabc/service/reply-from-threads", test_reply_from_threads);
  RABC_TEST_ADD ("/rabc/service/pipelined-mixed-answers-in-order", test_pipelined_mixed);
  RABC_TEST_ADD ("/rabc/service/disconnect-with-requests-taken",
                 test_disconnect_with_requests_taken);
  RABC_TEST_ADD ("/rabc/service/released-without-answer-gets-server-reply",
                 test_released_without_answer);
  RABC_TEST_ADD ("/rabc/service/bad-answers-are-ignored", test_bad_answers_ignored);
  RABC_TEST_ADD ("/rabc/service/max-pending-requests-stops-reading", test_max_pending_requests);
  RABC_TEST_ADD ("/rabc/service/half-closed-client-gets-replies", test_half_closed);
  RABC_TEST_ADD ("/rabc/service/half-closed-paused-client-gets-replies", test_half_closed_paused);
  RABC_TEST_ADD ("/rabc/service/client-closing-while-paused-is-dropped", test_close_while_paused);
  RABC_TEST_ADD ("/rabc/service/peer-close-from-handler", test_peer_close_from_handler);
  RABC_TEST_ADD ("/rabc/service/peer-close-from-thread", test_peer_close_from_thread);
  RABC_TEST_ADD ("/rabc/service/peers-and-own-credentials", test_peers_and_own_credentials);
  RABC_TEST_ADD ("/rabc/service/other-user-credentials", test_other_user_credentials);
  RABC_TEST_ADD ("/rabc/service/long-replies-wait-for-the-reader",
                 test_long_replies_wait_for_the_reader);
  RABC_TEST_ADD ("/rabc/service/bytes-with-nul-both-ways", test_bytes_with_nul);
  RABC_TEST_ADD ("/rabc/service/answer-after-server-stopped", test_answer_after_server_stopped);
  RABC_TEST_ADD ("/rabc/service/answer-after-server-unreffed", test_answer_after_server_unreffed);
  RABC_TEST_ADD ("/rabc/service/answer-other-clients-request", test_answer_other_clients_request);
  RABC_TEST_ADD ("/rabc/service/gone-clients-request-needs-no-answer",
                 test_gone_request_needs_no_answer);
  RABC_TEST_ADD ("/rabc/service/answer-after-server-context-ended",
                 test_answer_after_server_context_ended);
  RABC_TEST_ADD ("/rabc/service/close-from-thread-signals-in-server-thread",
                 test_close_from_thread_signals_in_server_thread);
  RABC_TEST_ADD ("/rabc/service/reply-from-thread-notifies-in-server-thread",
                 test_reply_from_thread_notifies_in_server_thread);

  RABC_TEST_ADD ("/rabc/service/unref-server-from-signal-of-an-answer",
                 test_unref_server_from_signal_of_an_answer);
  RABC_TEST_ADD ("/rabc/service/request-with-detailed-notify-handler-is-not-reused",
                 test_request_with_notify_handler_not_reused);
  RABC_TEST_ADD ("/rabc/service/closed-peer-is-not-kept-by-a-reused-request",
                 test_closed_peer_not_kept);
  RABC_TEST_ADD ("/rabc/service/long-messages-take-turns", test_long_messages_take_turns);
  RABC_TEST_ADD ("/rabc/service/many-pipelining-clients-take-turns",
                 test_many_pipelining_clients_take_turns);
  RABC_TEST_ADD ("/rabc/service/stop-in-long-message-turn-writes-answer",
                 test_stop_in_long_message_turn_writes_answer);
  RABC_TEST_ADD ("/rabc/service/stop-in-handler-writes-what-was-answered",
                 test_stop_in_handler_writes_answers);
  RABC_TEST_ADD ("/rabc/service/handler-connected-mid-read-sees-next-message",
                 test_handler_connected_mid_read);
  RABC_TEST_ADD ("/rabc/service/huge-max-pending-requests", test_huge_max_pending_requests);

  return g_test_run ();
}
