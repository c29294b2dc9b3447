/* test-client-threads.c: one RabcClient shared by many threads
 *
 * SPDX-License-Identifier: MIT
 */

#include <dirent.h>
#include <string.h>

#include <rabc.h>

#include "rabc-test-util.h"

typedef RabcTestFixture Fixture;

/* Requests per thread; RABC_TEST_THREAD_REQUESTS may lower it (valgrind
 * runs every thread on one CPU, one instruction at a time). */
#define N_THREADS 8
#define DEFAULT_REQUESTS_PER_THREAD 10000

static guint
requests_per_thread (void)
{
  const char *env = g_getenv ("RABC_TEST_THREAD_REQUESTS");

  return env != NULL ? (guint) g_ascii_strtoull (env, NULL, 10) : DEFAULT_REQUESTS_PER_THREAD;
}

/* Sockets this process has open: the client's and the peer's. */
static guint
count_open_sockets (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *fd_path = g_build_filename ("/proc/self/fd", name, NULL);
      g_autofree char *target = g_file_read_link (fd_path, NULL);

      if (target != NULL && g_str_has_prefix (target, "socket:"))
        n++;
    }
  return n;
}

typedef struct {
  RabcClient *client;
  guint       index;
  guint       n_requests;
  /* With a close somewhere in the run: requests may fail with
   * RABC_ERROR_CLOSED, from which point every later one must. */
  gboolean    may_close;
  guint       n_answered;
  guint       n_closed;
  gint       *n_total_answered;
  guint       close_after;
  gint       *n_finished;
} Worker;

typedef struct {
  GThread  *thread;
  gboolean  done;
  char     *reply;
  GError   *error;
} AsyncResult;

static void
on_async_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  AsyncResult *async = user_data;

  /* The callback runs in the context of the thread that sent. */
  g_assert_true (async->thread == g_thread_self ());
  async->reply = rabc_client_send_finish (RABC_CLIENT (source), result, &async->error);
  async->done = TRUE;
}

/* Checks one outcome: the echo of @expected, or, once the client may have
 * been closed, RABC_ERROR_CLOSED.  Returns FALSE once closed. */
static gboolean
check_outcome (Worker     *worker,
               const char *expected,
               char       *reply,
               GError     *error)
{
  if (error != NULL)
    {
      if (!worker->may_close)
        g_error ("thread %u: \"%s\" failed: %s", worker->index, expected, error->message);
      g_assert_error (error, RABC_ERROR, RABC_ERROR_CLOSED);
      g_error_free (error);
      worker->n_closed++;
      return FALSE;
    }

  /* Never another thread's reply, nor a ping's. */
  g_assert_cmpstr (reply, ==, expected);
  g_free (reply);
  worker->n_answered++;
  /* The main thread closes the client once enough are answered. */
  if ((guint) g_atomic_int_add (worker->n_total_answered, 1) + 1 == worker->close_after)
    g_main_context_wakeup (NULL);
  return TRUE;
}

static gpointer
worker_main (gpointer user_data)
{
  Worker *worker = user_data;
  g_autoptr(GMainContext) context = g_main_context_new ();
  gboolean open = TRUE;

  g_main_context_push_thread_default (context);

  for (guint i = 0; i < worker->n_requests && open; i++)
    {
      g_autofree char *message = g_strdup_printf ("thread %u request %u", worker->index, i);

      /* Two in three synchronous, the rest asynchronous, each waited for
       * in this thread's own context. */
      if (i % 3 != 2)
        {
          GError *error = NULL;
          char *reply = rabc_client_send_sync (worker->client, message, NULL, &error);

          open = check_outcome (worker, message, reply, error);
        }
      else
        {
          AsyncResult async = { g_thread_self () };

          rabc_client_send_async (worker->client, message, NULL, on_async_done, &async);
          while (!async.done)
            g_main_context_iteration (context, TRUE);
          open = check_outcome (worker, message, async.reply, async.error);
        }
    }

  /* Once closed, a client stays closed for every thread. */
  if (!open)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *reply = rabc_client_send_sync (worker->client, "after", NULL, &error);

      g_assert_error (error, RABC_ERROR, RABC_ERROR_CLOSED);
      g_assert_null (reply);
    }

  g_main_context_pop_thread_default (context);
  g_atomic_int_inc (worker->n_finished);
  g_main_context_wakeup (NULL);
  return NULL;
}

typedef struct {
  GThread      *main_thread;
  GMainContext *context;
  guint         n_replies;
} Pings;

static void
on_ping_reply (RabcClient *client,
               const char *reply,
               gpointer    user_data)
{
  Pings *pings = user_data;

  /* ::reply stays in the client's context, which this thread runs. */
  g_assert_true (g_main_context_is_owner (pings->context));
  g_assert_true (pings->main_thread == g_thread_self ());
  g_assert_cmpstr (reply, ==, "ping");
  pings->n_replies++;
}

static gpointer
unref_client (gpointer client)
{
  g_object_unref (client);
  return NULL;
}

/* 8 threads share one client, sync and async requests mixed, with an
 * automatic ping every 10 ms answered in this thread; with @close_after
 * (> 0), this thread closes the client once that many requests have been
 * answered. */
static void
run_threads (Fixture *fixture,
             guint    close_after)
{
  guint sockets_before = count_open_sockets ();
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, rabc_test_echo_peer, NULL);
  g_autoptr(GError) error = NULL;
  RabcClient *client;
  Worker workers[N_THREADS];
  GThread *threads[N_THREADS];
  Pings pings = { g_thread_self (), g_main_context_default () };
  gint n_total_answered = 0;
  gint n_threads_finished = 0;
  guint n_requests = requests_per_thread ();
  guint n_answered = 0;
  guint n_finished = 0;

  client = g_initable_new (RABC_TYPE_CLIENT, NULL, &error,
                           "socket-path", fixture->path,
                           "ping-interval", 10,
                           "timeout", 60000,
                           NULL);
  g_assert_no_error (error);
  g_signal_connect (client, "reply", G_CALLBACK (on_ping_reply), &pings);

  for (guint i = 0; i < N_THREADS; i++)
    {
      workers[i] = (Worker) {
        .client = client,
        .index = i,
        .n_requests = n_requests,
        .may_close = close_after > 0,
        .n_total_answered = &n_total_answered,
        .close_after = close_after,
        .n_finished = &n_threads_finished,
      };
      threads[i] = g_thread_new ("rabc-test-worker", worker_main, &workers[i]);
    }

  /* This thread runs the client's context meanwhile, as g_main_loop_run()
   * would: the pings, and the replies read while no thread waits in
   * send_sync. */
  g_assert_true (g_main_context_acquire (NULL));
  while (g_atomic_int_get (&n_threads_finished) < N_THREADS &&
         (close_after == 0 || (guint) g_atomic_int_get (&n_total_answered) < close_after))
    g_main_context_iteration (NULL, TRUE);

  if (close_after > 0)
    rabc_client_close (client);

  while (g_atomic_int_get (&n_threads_finished) < N_THREADS)
    g_main_context_iteration (NULL, TRUE);
  g_main_context_release (NULL);

  for (guint i = 0; i < N_THREADS; i++)
    {
      g_thread_join (threads[i]);
      n_answered += workers[i].n_answered;
      if (workers[i].n_closed > 0 || workers[i].n_answered == n_requests)
        n_finished++;
    }

  g_assert_cmpuint (n_finished, ==, N_THREADS);
  if (close_after == 0)
    {
      g_assert_cmpuint (n_answered, ==, N_THREADS * n_requests);
      g_assert_true (rabc_client_get_connected (client));
    }
  else
    {
      g_assert_cmpuint (n_answered, >=, close_after);
      g_assert_false (rabc_client_get_connected (client));
    }
  g_test_message ("%u requests answered, %u ping replies", n_answered, pings.n_replies);

  /* The last reference may go in any thread. */
  g_signal_handlers_disconnect_by_data (client, &pings);
  g_thread_join (g_thread_new ("rabc-test-unref", unref_client, client));
  rabc_test_peer_free (peer);

  /* Nothing left open: neither the client's socket nor the peer's. */
  g_assert_cmpuint (count_open_sockets (), ==, sockets_before);
}

static void
test_threads (Fixture       *fixture,
              gconstpointer  data)
{
  run_threads (fixture, 0);
}

static void
test_threads_close (Fixture       *fixture,
                    gconstpointer  data)
{
  guint n_requests = requests_per_thread ();

  /* Close at a random point, in three runs. */
  for (guint run = 0; run < 3; run++)
    {
      guint close_after = g_test_rand_int_range (1, N_THREADS * n_requests / 2);

      g_test_message ("closing after %u replies", close_after);
      run_threads (fixture, close_after);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  RABC_TEST_ADD ("/rabc/client/threads/stress", test_threads);
  RABC_TEST_ADD ("/rabc/client/threads/close", test_threads_close);

  return g_test_run ();
}
