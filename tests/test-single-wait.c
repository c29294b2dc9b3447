/* test-single-wait.c: a main context that waits in the server's epoll set
 *
 * rabcd makes its main context wait for its sources and for the server's
 * clients in one epoll_wait() (rabc_server_use_single_wait()).  These
 * tests run a server so, in this process, and check that the context is
 * still a GLib main context: timeouts fire, other threads wake it, signal
 * handlers run, descriptors added later are watched, and the server never
 * handles an event for a client dropped after the wait.  The server serves
 * round after round in its own dispatch while GLib has nothing to do, and
 * returns to GLib for a timeout, a signal, or a source a handler attached.
 *
 * SPDX-License-Identifier: MIT
 */

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "rabc-server-private.h"
#include "rabc-test-util.h"

typedef RabcTestFixture Fixture;

#define WAIT_MS 20000

/* --- helpers ------------------------------------------------------------ */

static RabcServer *
start_server (Fixture  *fixture,
              gboolean  single_wait)
{
  g_autoptr(GError) error = NULL;
  RabcServer *server = rabc_server_new (fixture->path);

  rabc_server_start (server, &error);
  g_assert_no_error (error);
  if (single_wait)
    {
      g_assert_true (rabc_server_use_single_wait (server));
      g_assert_true (g_main_context_get_poll_func (NULL) != g_poll);
    }
  return server;
}

static gboolean
set_flag (gpointer user_data)
{
  gboolean *flag = user_data;

  *flag = TRUE;
  return G_SOURCE_REMOVE;
}

/* Round trips of "ping" on a raw connection, in a thread, which tells the
 * main context when it is done: @n of them, or with @n 0 until @stop.
 * Each request is written at once, as clients do, so that the server
 * never holds half a frame. */
typedef struct {
  const char *path;
  guint       n;
  gint        stop;
  gint        n_pongs;
  gboolean    done;
  GThread    *thread;
} Pinger;

static gpointer
pinger_thread (gpointer user_data)
{
  Pinger *pinger = user_data;
  int fd = rabc_test_connect_raw (pinger->path);
  guint8 request[sizeof (guint64) + 4];
  guint64 len = 4;

  memcpy (request, &len, sizeof len);
  memcpy (request + sizeof len, "ping", 4);
  for (guint i = 0; pinger->n > 0 ? i < pinger->n : !g_atomic_int_get (&pinger->stop); i++)
    {
      g_autofree char *reply = NULL;

      rabc_test_write_all (fd, request, sizeof request);
      reply = rabc_test_read_frame (fd);
      if (g_strcmp0 (reply, "pong") == 0)
        g_atomic_int_inc (&pinger->n_pongs);
    }
  close (fd);

  /* Attaches a source from this thread: GLib wakes the context up. */
  g_main_context_invoke (NULL, set_flag, &pinger->done);
  return NULL;
}

static void
pinger_start (Pinger     *pinger,
              const char *path,
              guint       n)
{
  *pinger = (Pinger) { .path = path, .n = n };
  pinger->thread = g_thread_new ("pinger", pinger_thread, pinger);
}

static void
pinger_finish (Pinger *pinger)
{
  rabc_test_wait_for (&pinger->done, WAIT_MS);
  g_thread_join (pinger->thread);
  if (pinger->n > 0)
    g_assert_cmpint (pinger->n_pongs, ==, pinger->n);
}

static void
stop_server (RabcServer *server)
{
  rabc_server_stop (server);
  g_assert_true (g_main_context_get_poll_func (NULL) == g_poll);
  g_object_unref (server);
}

/* --- tests -------------------------------------------------------------- */

/* Clients in other threads are answered, and the sources those threads
 * attach to the context run. */
static void
test_serves (Fixture       *fixture,
             gconstpointer  data)
{
  RabcServer *server = start_server (fixture, TRUE);
  Pinger pingers[3];

  for (guint i = 0; i < G_N_ELEMENTS (pingers); i++)
    pinger_start (&pingers[i], fixture->path, 300);
  for (guint i = 0; i < G_N_ELEMENTS (pingers); i++)
    pinger_finish (&pingers[i]);

  stop_server (server);
}

/* What a source saw of a pinger when it ran. */
typedef struct {
  Pinger   *pinger;
  gint      pongs_at_run;
  gboolean  ran;
} Busy;

static gboolean
on_busy (gpointer user_data)
{
  Busy *busy = user_data;

  busy->pongs_at_run = g_atomic_int_get (&busy->pinger->n_pongs);
  busy->ran = TRUE;
  return G_SOURCE_REMOVE;
}

/* A source that counts the iterations of the main context: GLib prepares
 * it once in each, as it is never dispatched and so never blocked. */
typedef struct {
  GSource source;
  guint   n_iterations;
} Counter;

static gboolean
counter_prepare (GSource *source,
                 gint    *timeout)
{
  ((Counter *) source)->n_iterations++;
  *timeout = -1;
  return FALSE;
}

static gboolean
counter_check (GSource *source)
{
  return FALSE;
}

static gboolean
counter_dispatch (GSource     *source,
                  GSourceFunc  callback,
                  gpointer     user_data)
{
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs counter_funcs = {
  .prepare = counter_prepare,
  .check = counter_check,
  .dispatch = counter_dispatch,
};

/* While GLib has nothing to do, a client's requests are served in the
 * server's own dispatch, one round after another, and not in an
 * iteration of the main context each. */
static void
test_rounds_in_dispatch (Fixture       *fixture,
                         gconstpointer  data)
{
  GSource *source = g_source_new (&counter_funcs, sizeof (Counter));
  RabcServer *server = start_server (fixture, TRUE);
  Pinger pinger;

  g_source_attach (source, NULL);
  pinger_start (&pinger, fixture->path, 2000);
  pinger_finish (&pinger);
  g_test_message ("%u iterations for %u round trips",
                  ((Counter *) source)->n_iterations, pinger.n);
  g_assert_cmpuint (((Counter *) source)->n_iterations, <, pinger.n / 10);

  g_source_destroy (source);
  g_source_unref (source);
  stop_server (server);
}

/* A handler of the tenth message attaches an idle from the server's own
 * thread, which does not wake the context, and disconnects itself. */
typedef struct {
  Busy      idle;
  gulong    handler_id;
  guint     n_messages;
} Attacher;

static void
on_message_attach (RabcServer *server,
                   const char *message,
                   gpointer    user_data)
{
  Attacher *attacher = user_data;

  if (++attacher->n_messages < 10)
    return;
  g_idle_add_full (G_PRIORITY_DEFAULT, on_busy, &attacher->idle, NULL);
  g_signal_handler_disconnect (server, attacher->handler_id);
}

/* After a round in which application code ran, the server returns to GLib
 * before the next one: the idle a handler attached runs while the client
 * is still busy, not once it stops. */
static void
test_handler_source_runs (Fixture       *fixture,
                          gconstpointer  data)
{
  RabcServer *server = start_server (fixture, TRUE);
  Attacher attacher = { 0 };
  Pinger pinger;

  attacher.idle.pinger = &pinger;
  attacher.handler_id = g_signal_connect (server, "message-received",
                                          G_CALLBACK (on_message_attach), &attacher);
  pinger_start (&pinger, fixture->path, 2000);
  rabc_test_wait_for (&attacher.idle.ran, WAIT_MS);
  pinger_finish (&pinger);
  g_test_message ("the idle ran after %d of %u round trips", attacher.idle.pongs_at_run, pinger.n);
  g_assert_cmpint (attacher.idle.pongs_at_run, <, pinger.n / 2);

  stop_server (server);
}

/* A timeout fires while nothing else happens, and while a client is
 * served. */
static void
test_timeout (Fixture       *fixture,
              gconstpointer  data)
{
  RabcServer *server = start_server (fixture, TRUE);
  Busy busy = { 0 };
  gboolean fired = FALSE;
  Pinger pinger;

  g_timeout_add (20, set_flag, &fired);
  rabc_test_wait_for (&fired, WAIT_MS);

  pinger_start (&pinger, fixture->path, 2000);
  busy.pinger = &pinger;
  g_timeout_add (1, on_busy, &busy);
  rabc_test_wait_for (&busy.ran, WAIT_MS);
  pinger_finish (&pinger);
  /* Not once the client's rounds ended: GLib's timeout ends them. */
  g_test_message ("the timeout fired after %d of %u round trips", busy.pongs_at_run, pinger.n);
  g_assert_cmpint (busy.pongs_at_run, <, pinger.n);

  stop_server (server);
}

static gboolean
on_signal (gpointer user_data)
{
  gboolean *flag = user_data;

  *flag = TRUE;
  return G_SOURCE_CONTINUE;
}

static gpointer
signal_thread (gpointer user_data)
{
  kill (getpid (), SIGUSR1);
  return NULL;
}

/* Attaches a source from another thread once the pinger is well under
 * way, which signals GLib's wake-up descriptor. */
static gpointer
wake_busy_thread (gpointer user_data)
{
  Busy *busy = user_data;

  while (g_atomic_int_get (&busy->pinger->n_pongs) < 100)
    g_usleep (1000);
  g_main_context_invoke (NULL, on_busy, busy);
  return NULL;
}

/* While the server serves a client that never stops, round after round in
 * its dispatch, a source attached from another thread runs: GLib's
 * wake-up ends the rounds. */
static void
test_woken_while_serving (Fixture       *fixture,
                          gconstpointer  data)
{
  RabcServer *server = start_server (fixture, TRUE);
  Busy busy = { 0 };
  GThread *thread;
  Pinger pinger;

  busy.pinger = &pinger;
  pinger_start (&pinger, fixture->path, 0);
  thread = g_thread_new ("wake", wake_busy_thread, &busy);
  rabc_test_wait_for (&busy.ran, WAIT_MS);
  g_thread_join (thread);
  g_test_message ("the source ran after %d round trips", busy.pongs_at_run);
  g_atomic_int_set (&pinger.stop, TRUE);
  pinger_finish (&pinger);

  stop_server (server);
}

/* A g_unix_signal_add() handler runs for a signal sent while the context
 * waits. */
static void
test_signal (Fixture       *fixture,
             gconstpointer  data)
{
  RabcServer *server = start_server (fixture, TRUE);
  gboolean caught = FALSE;
  guint id = g_unix_signal_add (SIGUSR1, on_signal, &caught);
  GThread *thread = g_thread_new ("signal", signal_thread, NULL);

  rabc_test_wait_for (&caught, WAIT_MS);
  g_thread_join (thread);
  g_source_remove (id);

  stop_server (server);
}

typedef struct {
  int      fd;
  gboolean done;
} PipeWriter;

static gpointer
pipe_thread (gpointer user_data)
{
  PipeWriter *writer = user_data;

  g_assert_cmpint (write (writer->fd, "x", 1), ==, 1);
  return NULL;
}

static gboolean
on_pipe (int          fd,
         GIOCondition condition,
         gpointer     user_data)
{
  gboolean *readable = user_data;
  char byte;

  g_assert_cmpint (read (fd, &byte, 1), ==, 1);
  *readable = TRUE;
  return G_SOURCE_CONTINUE;
}

/* A descriptor watched after the wait was set up is watched too, beside
 * the clients, and the clients are still served once it is gone. */
static void
test_other_descriptor (Fixture       *fixture,
                       gconstpointer  data)
{
  RabcServer *server = start_server (fixture, TRUE);
  PipeWriter writer;
  gboolean readable = FALSE;
  GThread *thread;
  Pinger pinger;
  int fds[2];
  guint id;

  g_assert_true (g_unix_open_pipe (fds, FD_CLOEXEC, NULL));
  id = g_unix_fd_add (fds[0], G_IO_IN, on_pipe, &readable);

  writer.fd = fds[1];
  pinger_start (&pinger, fixture->path, 500);
  thread = g_thread_new ("pipe", pipe_thread, &writer);
  rabc_test_wait_for (&readable, WAIT_MS);
  g_thread_join (thread);
  pinger_finish (&pinger);

  g_source_remove (id);
  close (fds[0]);
  close (fds[1]);

  pinger_start (&pinger, fixture->path, 500);
  pinger_finish (&pinger);

  stop_server (server);
}

/* A source dispatched before the server's in the same round, attached
 * before the server started, which closes a client whose request the
 * wait saw. */
typedef struct {
  GSource   source;
  int       fd;
  RabcPeer *peer;
  gboolean  written;
  gboolean  done;
} Dropper;

static gboolean
dropper_prepare (GSource *source,
                 gint    *timeout)
{
  Dropper *self = (Dropper *) source;

  /* The request arrives before the wait, which sees it. */
  if (self->peer != NULL && !self->written)
    {
      rabc_test_write_frame (self->fd, "ping", 4);
      self->written = TRUE;
    }
  *timeout = -1;
  return FALSE;
}

static gboolean
dropper_check (GSource *source)
{
  Dropper *self = (Dropper *) source;

  return self->written && !self->done;
}

static gboolean
dropper_dispatch (GSource     *source,
                  GSourceFunc  callback,
                  gpointer     user_data)
{
  Dropper *self = (Dropper *) source;

  rabc_peer_close (self->peer);
  self->done = TRUE;
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs dropper_funcs = {
  .prepare = dropper_prepare,
  .check = dropper_check,
  .dispatch = dropper_dispatch,
};

static gboolean
on_first_request (RabcServer  *server,
                  RabcRequest *request,
                  gpointer     user_data)
{
  Dropper *dropper = user_data;

  if (dropper->peer == NULL)
    dropper->peer = g_object_ref (rabc_request_get_peer (request));
  return FALSE;
}

static void
test_dropped_before_dispatch (Fixture       *fixture,
                              gconstpointer  data)
{
  GSource *source = g_source_new (&dropper_funcs, sizeof (Dropper));
  Dropper *dropper = (Dropper *) source;
  g_autofree char *reply = NULL;
  RabcServer *server;
  Pinger pinger;
  gint64 start;

  g_source_attach (source, NULL);
  server = start_server (fixture, TRUE);
  g_signal_connect (server, "handle-request", G_CALLBACK (on_first_request), dropper);

  dropper->fd = rabc_test_connect_raw (fixture->path);
  rabc_test_write_frame (dropper->fd, "ping", 4);
  start = g_get_monotonic_time ();
  rabc_test_wait_for (&dropper->done, WAIT_MS);
  /* The server's dispatch, after a source that dropped a client, went back
   * to GLib rather than wait out the iteration's timeout (the test's). */
  g_assert_cmpint (g_get_monotonic_time () - start, <, WAIT_MS * G_TIME_SPAN_MILLISECOND / 2);

  /* The first request was answered, the second never: the client was
   * closed first, and the server did not touch it after. */
  reply = rabc_test_read_frame (dropper->fd);
  g_assert_cmpstr (reply, ==, "pong");
  g_assert_true (rabc_test_read_until_eof (dropper->fd, WAIT_MS));
  g_assert_false (rabc_peer_get_connected (dropper->peer));
  g_assert_cmpuint (rabc_server_get_n_clients (server), ==, 0);

  pinger_start (&pinger, fixture->path, 100);
  pinger_finish (&pinger);

  close (dropper->fd);
  g_clear_object (&dropper->peer);
  g_source_destroy (source);
  g_source_unref (source);
  stop_server (server);
}

static gboolean
quit_loop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

/* A handler that runs a nested main loop on the server's context, as a
 * handler waiting for something else may do. */
static gboolean
on_request_nested (RabcServer  *server,
                   RabcRequest *request,
                   gpointer     user_data)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint *n_nested = user_data;

  g_timeout_add (1, quit_loop, loop);
  g_main_loop_run (loop);
  (*n_nested)++;
  return FALSE;
}

/* Nested main loops run from the server's own dispatch see their
 * timeouts, and the clients are answered in order once they return. */
static void
test_nested_loop (Fixture       *fixture,
                  gconstpointer  data)
{
  RabcServer *server = start_server (fixture, TRUE);
  guint n_nested = 0;
  Pinger pingers[2];

  g_signal_connect (server, "handle-request", G_CALLBACK (on_request_nested), &n_nested);
  for (guint i = 0; i < G_N_ELEMENTS (pingers); i++)
    pinger_start (&pingers[i], fixture->path, 50);
  for (guint i = 0; i < G_N_ELEMENTS (pingers); i++)
    pinger_finish (&pingers[i]);
  g_assert_cmpuint (n_nested, ==, 100);

  stop_server (server);
}

/* A server that was not asked keeps GLib's poll; one wait per process;
 * once stopped, the context waits as before. */
static void
test_opt_in (Fixture       *fixture,
             gconstpointer  data)
{
  g_autofree char *other_path = g_build_filename (fixture->dir, "other", NULL);
  g_autoptr(RabcServer) other = rabc_server_new (other_path);
  g_autoptr(GError) error = NULL;
  RabcServer *server = start_server (fixture, FALSE);
  gboolean fired = FALSE;
  Pinger pinger;

  g_assert_true (g_main_context_get_poll_func (NULL) == g_poll);
  pinger_start (&pinger, fixture->path, 100);
  pinger_finish (&pinger);

  g_assert_true (rabc_server_use_single_wait (server));
  g_assert_true (rabc_server_use_single_wait (server));
  rabc_server_start (other, &error);
  g_assert_no_error (error);
  g_assert_false (rabc_server_use_single_wait (other));
  rabc_server_stop (other);

  stop_server (server);
  g_timeout_add (10, set_flag, &fired);
  rabc_test_wait_for (&fired, WAIT_MS);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  RABC_TEST_ADD ("/rabc/single-wait/serves", test_serves);
  RABC_TEST_ADD ("/rabc/single-wait/rounds-in-dispatch", test_rounds_in_dispatch);
  RABC_TEST_ADD ("/rabc/single-wait/handler-source-runs", test_handler_source_runs);
  RABC_TEST_ADD ("/rabc/single-wait/timeout", test_timeout);
  RABC_TEST_ADD ("/rabc/single-wait/signal", test_signal);
  RABC_TEST_ADD ("/rabc/single-wait/woken-while-serving", test_woken_while_serving);
  RABC_TEST_ADD ("/rabc/single-wait/other-descriptor", test_other_descriptor);
  RABC_TEST_ADD ("/rabc/single-wait/dropped-before-dispatch", test_dropped_before_dispatch);
  RABC_TEST_ADD ("/rabc/single-wait/nested-loop", test_nested_loop);
  RABC_TEST_ADD ("/rabc/single-wait/opt-in", test_opt_in);

  return g_test_run ();
}
