/* bench-load.c: the epoll load generator and the many-connections test
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "bench-load.h"
#include "bench-util.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_EVENTS    1024
#define DRAIN_TIMEOUT_NS (G_GINT64_CONSTANT (10) * 1000000000)

typedef struct {
  int               fd;
  gboolean          in_flight;
  gsize             out_offset;   /* of the request being written */
  BenchReplyScanner scanner;
} LoadConn;

typedef struct {
  int           epoll_fd;
  LoadConn     *conns;
  guint         n_conns;
  guint64       sent;
  guint64       answered;
  guint         outstanding;
  const guint8 *frame;         /* the request */
  gsize         frame_len;
  guint8       *frame_owned;
} Load;

static void
load_clear (Load *load)
{
  for (guint i = 0; i < load->n_conns; i++)
    if (load->conns[i].fd >= 0)
      close (load->conns[i].fd);
  g_clear_pointer (&load->conns, g_free);
  g_clear_pointer (&load->frame_owned, g_free);
  if (load->epoll_fd >= 0)
    close (load->epoll_fd);
  load->epoll_fd = -1;
}

static gboolean
load_open (Load        *load,
           const char  *path,
           guint        n_conns,
           GError     **error)
{
  g_autofree int *fds = g_new (int, n_conns);

  memset (load, 0, sizeof *load);
  load->frame = bench_ping_frame;
  load->frame_len = BENCH_PING_FRAME_SIZE;
  load->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  load->n_conns = n_conns;
  load->conns = g_new0 (LoadConn, n_conns);
  for (guint i = 0; i < n_conns; i++)
    load->conns[i].fd = -1;

  if (!bench_connect_many (path, fds, n_conns, 30000, error))
    {
      load_clear (load);
      return FALSE;
    }

  for (guint i = 0; i < n_conns; i++)
    {
      struct epoll_event event = { .events = EPOLLIN, .data.u32 = i };

      load->conns[i].fd = fds[i];
      if (epoll_ctl (load->epoll_fd, EPOLL_CTL_ADD, fds[i], &event) < 0)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "epoll_ctl: %s", g_strerror (errsv));
          load_clear (load);
          return FALSE;
        }
    }
  return TRUE;
}

/* Writes what the socket takes of the request from where the last write
 * stopped; waits for EPOLLOUT while some is left. */
static gboolean
load_write (Load      *load,
            LoadConn  *conn,
            GError   **error)
{
  gboolean was_partial = conn->out_offset > 0;

  while (conn->out_offset < load->frame_len)
    {
      ssize_t n = write (conn->fd, load->frame + conn->out_offset,
                         load->frame_len - conn->out_offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "cannot send a request: %s", n < 0 ? g_strerror (errsv) : "short write");
          return FALSE;
        }
      conn->out_offset += n;
    }

  if (conn->out_offset == load->frame_len)
    conn->out_offset = 0;
  if (was_partial != (conn->out_offset > 0))
    {
      struct epoll_event event = {
        .events = EPOLLIN | (conn->out_offset > 0 ? EPOLLOUT : 0),
        .data.u32 = conn - load->conns,
      };
      epoll_ctl (load->epoll_fd, EPOLL_CTL_MOD, conn->fd, &event);
    }
  return TRUE;
}

static gboolean
load_send (Load      *load,
           LoadConn  *conn,
           GError   **error)
{
  conn->in_flight = TRUE;
  conn->out_offset = 0;
  load->sent++;
  load->outstanding++;
  return load_write (load, conn, error);
}

/* Reads the replies waiting on @conn; sends the next request if @resend. */
static gboolean
load_receive (Load      *load,
              LoadConn  *conn,
              gboolean   resend,
              GError   **error)
{
  guint8 buffer[4096];
  ssize_t n = read (conn->fd, buffer, sizeof buffer);
  int replies;

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return TRUE;
  if (n <= 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                   "the server closed a connection with %s request in flight: %s",
                   conn->in_flight ? "a" : "no",
                   n == 0 ? "end of file" : g_strerror (errsv));
      return FALSE;
    }

  replies = bench_reply_scanner_feed (&conn->scanner, buffer, n);
  if (replies < 0 || (replies > 0 && !conn->in_flight) || replies > 1)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "the server sent something other than one \"pong\" per request");
      return FALSE;
    }
  if (replies == 0)
    return TRUE;

  conn->in_flight = FALSE;
  load->answered++;
  load->outstanding--;
  return resend ? load_send (load, conn, error) : TRUE;
}

void
bench_window_init (BenchWindow  *window,
                   pid_t         server_pid,
                   gint64      (*self_cpu_ns) (void),
                   double        warmup_s,
                   double        duration_s)
{
  memset (window, 0, sizeof *window);
  window->server_pid = server_pid;
  window->self_cpu_ns = self_cpu_ns;
  window->duration_ns = (gint64) (duration_s * 1e9);
  window->opens = bench_now_ns () + (gint64) (warmup_s * 1e9);
  window->closes = window->opens + window->duration_ns;
}

gboolean
bench_window_update (BenchWindow     *window,
                     gint64           now,
                     guint64          answered,
                     BenchLoadResult *result)
{
  gint64 server_cpu;

  if (!window->open && now >= window->opens)
    {
      window->open = TRUE;
      window->opens = now;
      window->closes = now + window->duration_ns;
      window->answered_at_open = answered;
      window->server_cpu_at_open = bench_proc_cpu_ns (window->server_pid);
      window->self_cpu_at_open = window->self_cpu_ns ();
    }
  if (!window->open || window->closed || now < window->closes)
    return FALSE;

  window->closed = TRUE;
  server_cpu = bench_proc_cpu_ns (window->server_pid);
  result->window_s = (now - window->opens) / 1e9;
  result->req_per_s = (answered - window->answered_at_open) / result->window_s;
  result->server_cpu = server_cpu >= 0 && window->server_cpu_at_open >= 0
                     ? (server_cpu - window->server_cpu_at_open) / 1e9 / result->window_s : -1;
  result->loadgen_cpu = (window->self_cpu_ns () - window->self_cpu_at_open) / 1e9 / result->window_s;
  return TRUE;
}

gboolean
bench_load_run (const char       *path,
                pid_t             server_pid,
                guint             n_conns,
                gsize             request_size,
                double            warmup_s,
                double            duration_s,
                BenchLoadResult  *result,
                GError          **error)
{
  struct epoll_event events[MAX_EVENTS];
  BenchWindow window;
  gboolean sending = TRUE;
  gboolean ok = FALSE;
  gint64 now;
  Load load;

  memset (result, 0, sizeof *result);
  result->n_conns = n_conns;

  if (!load_open (&load, path, n_conns, error))
    return FALSE;
  if (request_size != 4)
    {
      load.frame = load.frame_owned = bench_request_frame (request_size);
      load.frame_len = BENCH_FRAME_HEADER_SIZE + request_size;
    }

  for (guint i = 0; i < n_conns; i++)
    if (!load_send (&load, &load.conns[i], error))
      goto out;

  /* The load generator is this thread. */
  bench_window_init (&window, server_pid, bench_thread_cpu_ns, warmup_s, duration_s);

  for (;;)
    {
      int n;

      now = bench_now_ns ();
      if (bench_window_update (&window, now, load.answered, result))
        sending = FALSE;
      if (!sending && load.outstanding == 0)
        break;
      if (!sending && now > window.closes + DRAIN_TIMEOUT_NS)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "%u requests were not answered within %d s",
                       load.outstanding, (int) (DRAIN_TIMEOUT_NS / 1000000000));
          goto out;
        }

      n = epoll_wait (load.epoll_fd, events, MAX_EVENTS, 50);
      if (n < 0 && errno != EINTR)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "epoll_wait: %s", g_strerror (errsv));
          goto out;
        }
      if (n == 0 && server_pid > 0 && !bench_child_alive (server_pid))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               "the server exited during the run");
          goto out;
        }

      for (int i = 0; i < n; i++)
        {
          LoadConn *conn = &load.conns[events[i].data.u32];

          if ((events[i].events & EPOLLOUT) && conn->out_offset > 0 &&
              !load_write (&load, conn, error))
            goto out;
          if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
              !load_receive (&load, conn, sending, error))
            goto out;
        }
    }

  ok = TRUE;

out:
  result->sent = load.sent;
  result->answered = load.answered;
  load_clear (&load);
  return ok;
}

static gboolean
wait_until_held (pid_t             server_pid,
                 int               fds_before,
                 BenchScaleResult *result,
                 GError          **error)
{
  gint64 deadline = bench_now_ns () + G_GINT64_CONSTANT (30) * 1000000000;

  for (;;)
    {
      int fds = bench_proc_count_fds (server_pid);

      result->held = fds > fds_before ? (guint) (fds - fds_before) : 0;
      if (result->held >= result->n_conns)
        return TRUE;
      if (!bench_child_alive (server_pid))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       "the server exited while holding %u of %u connections",
                       result->held, result->n_conns);
          return FALSE;
        }
      if (bench_now_ns () > deadline)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "the server accepted only %u of %u connections in 30 s",
                       result->held, result->n_conns);
          return FALSE;
        }
      g_usleep (10000);
    }
}

gboolean
bench_scale_run (const char        *path,
                 pid_t              server_pid,
                 guint              n_conns,
                 BenchScaleResult  *result,
                 GError           **error)
{
  struct epoll_event events[MAX_EVENTS];
  gint64 start, deadline;
  gboolean ok = FALSE;
  int fds_before;
  Load load;

  memset (result, 0, sizeof *result);
  result->n_conns = n_conns;
  result->rss_before_kib = bench_proc_rss_kib (server_pid);
  fds_before = bench_proc_count_fds (server_pid);
  if (result->rss_before_kib < 0 || fds_before < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "cannot read /proc/%d of the server", (int) server_pid);
      return FALSE;
    }

  start = bench_now_ns ();
  if (!load_open (&load, path, n_conns, error))
    return FALSE;
  if (!wait_until_held (server_pid, fds_before, result, error))
    goto out;
  result->connect_s = (bench_now_ns () - start) / 1e9;

  /* Let the server finish registering the last ones. */
  g_usleep (200000);
  result->rss_idle_kib = bench_proc_rss_kib (server_pid);

  start = bench_now_ns ();
  for (guint i = 0; i < n_conns; i++)
    if (!load_send (&load, &load.conns[i], error))
      goto out;

  deadline = start + G_GINT64_CONSTANT (30) * 1000000000;
  while (load.outstanding > 0)
    {
      int n = epoll_wait (load.epoll_fd, events, MAX_EVENTS, 100);

      for (int i = 0; i < n; i++)
        if (!load_receive (&load, &load.conns[events[i].data.u32], FALSE, error))
          goto out;
      if (bench_now_ns () > deadline)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "%u of %u connections got no reply within 30 s",
                       load.outstanding, n_conns);
          goto out;
        }
    }
  result->answer_s = (bench_now_ns () - start) / 1e9;
  result->rss_answered_kib = bench_proc_rss_kib (server_pid);
  ok = TRUE;

out:
  result->answered = load.answered;
  load_clear (&load);
  return ok;
}

/* --- fairness: a victim beside greedy connections ----------------------- */

#define GREEDY_IN_FLIGHT (64 * 1024)
#define GREEDY_CHUNK_PINGS 341   /* 4092 bytes */
#define FAIRNESS_WARMUP_NS (G_GINT64_CONSTANT (200) * 1000000)
/* The fewest round trips the victim's window holds, however long they take. */
#define FAIRNESS_MIN_ROUND_TRIPS 10
#define VICTIM_REPLY_TIMEOUT_S 10

typedef struct {
  int     fd;
  guint64 sent;
  guint64 received;
} GreedyConn;

typedef struct {
  GreedyConn   *conns;
  guint         n_conns;
  int           epoll_fd;
  gint          stop;
  guint64       replies;
  char         *error;
} Greedy;

static gpointer
greedy_thread (gpointer user_data)
{
  Greedy *greedy = user_data;
  struct sched_param param = { 0 };
  guint8 pings[GREEDY_CHUNK_PINGS * BENCH_PING_FRAME_SIZE];
  struct epoll_event events[MAX_EVENTS];

  /* The victim shares this CPU: it must get it whenever it wants it, or
   * the scheduler, not the server, would decide its latency. */
  sched_setscheduler (0, SCHED_IDLE, &param);

  for (guint i = 0; i < GREEDY_CHUNK_PINGS; i++)
    memcpy (pings + i * BENCH_PING_FRAME_SIZE, bench_ping_frame, BENCH_PING_FRAME_SIZE);

  while (!g_atomic_int_get (&greedy->stop))
    {
      int n = epoll_wait (greedy->epoll_fd, events, MAX_EVENTS, 50);

      for (int e = 0; e < n; e++)
        {
          GreedyConn *conn = &greedy->conns[events[e].data.u32];

          if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            {
              guint8 buffer[64 * 1024];
              ssize_t got = read (conn->fd, buffer, sizeof buffer);

              if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
                {
                  greedy->error = g_strdup_printf ("the server closed a greedy connection: %s",
                                                   got == 0 ? "end of file" : g_strerror (errno));
                  return NULL;
                }
              if (got > 0)
                conn->received += got;
            }
          if ((events[e].events & EPOLLOUT) && conn->sent - conn->received < GREEDY_IN_FLIGHT)
            {
              /* Whole pings, from wherever the last write stopped. */
              gsize offset = conn->sent % sizeof pings;
              ssize_t put = write (conn->fd, pings + offset, sizeof pings - offset);

              if (put > 0)
                conn->sent += put;
            }
        }
    }

  for (guint i = 0; i < greedy->n_conns; i++)
    greedy->replies += greedy->conns[i].received / BENCH_PING_FRAME_SIZE;
  return NULL;
}

/* Once the greedy thread has stopped: sends the rest of each connection's
 * last ping, which a short write may have cut, and reads until every ping
 * of every greedy connection is answered. */
static gboolean
greedy_drain (Greedy  *greedy,
              GError **error)
{
  gint64 deadline = bench_now_ns () + DRAIN_TIMEOUT_NS;
  struct epoll_event events[MAX_EVENTS];

  for (guint i = 0; i < greedy->n_conns; i++)
    {
      GreedyConn *conn = &greedy->conns[i];
      struct epoll_event event = { .events = EPOLLIN, .data.u32 = i };

      if (conn->sent % BENCH_PING_FRAME_SIZE != 0)
        event.events |= EPOLLOUT;
      epoll_ctl (greedy->epoll_fd, EPOLL_CTL_MOD, conn->fd, &event);
    }

  for (;;)
    {
      guint64 unanswered = 0;
      int n;

      for (guint i = 0; i < greedy->n_conns; i++)
        {
          GreedyConn *conn = &greedy->conns[i];
          guint64 pings = (conn->sent + BENCH_PING_FRAME_SIZE - 1) / BENCH_PING_FRAME_SIZE;

          if (conn->received > conn->sent)
            {
              g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                   "the server sent a greedy connection more than it asked for");
              return FALSE;
            }
          unanswered += pings - conn->received / BENCH_PING_FRAME_SIZE;
        }
      if (unanswered == 0)
        return TRUE;
      if (bench_now_ns () > deadline)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "%" G_GUINT64_FORMAT " pings of the greedy connections were not "
                       "answered within %d s", unanswered,
                       (int) (DRAIN_TIMEOUT_NS / 1000000000));
          return FALSE;
        }

      n = epoll_wait (greedy->epoll_fd, events, MAX_EVENTS, 50);
      for (int e = 0; e < n; e++)
        {
          guint index = events[e].data.u32;
          GreedyConn *conn = &greedy->conns[index];

          if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            {
              guint8 buffer[64 * 1024];
              ssize_t got = read (conn->fd, buffer, sizeof buffer);

              if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
                {
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               "the server closed a greedy connection with pings unanswered: %s",
                               got == 0 ? "end of file" : g_strerror (errno));
                  return FALSE;
                }
              if (got > 0)
                conn->received += got;
            }
          if ((events[e].events & EPOLLOUT) && conn->sent % BENCH_PING_FRAME_SIZE != 0)
            {
              gsize done = conn->sent % BENCH_PING_FRAME_SIZE;
              ssize_t put = write (conn->fd, bench_ping_frame + done,
                                   BENCH_PING_FRAME_SIZE - done);

              if (put > 0)
                conn->sent += put;
              if (conn->sent % BENCH_PING_FRAME_SIZE == 0)
                {
                  struct epoll_event event = { .events = EPOLLIN, .data.u32 = index };

                  epoll_ctl (greedy->epoll_fd, EPOLL_CTL_MOD, conn->fd, &event);
                }
            }
        }
    }
}

static gboolean
victim_round_trip (int            fd,
                   BenchSamples  *samples,
                   GError       **error)
{
  BenchReplyScanner scanner = { 0 };
  gint64 start = bench_now_ns ();
  int replies = 0;

  if (!bench_write_all (fd, bench_ping_frame, BENCH_PING_FRAME_SIZE))
    goto broken;
  while (replies == 0)
    {
      guint8 buffer[64];
      ssize_t got = read (fd, buffer, sizeof buffer);

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0 && errno == EAGAIN)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "the victim's request was not answered within %d s",
                       VICTIM_REPLY_TIMEOUT_S);
          return FALSE;
        }
      if (got <= 0)
        goto broken;
      replies = bench_reply_scanner_feed (&scanner, buffer, got);
      if (replies < 0 || replies > 1)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "the victim's reply is not one \"pong\" frame");
          return FALSE;
        }
    }
  bench_samples_add (samples, bench_now_ns () - start);
  return TRUE;

broken:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
               "the victim's connection broke: %s", g_strerror (errno));
  return FALSE;
}

gboolean
bench_fairness_run (const char           *path,
                    pid_t                 server_pid,
                    guint                 n_greedy,
                    double                duration_s,
                    BenchSamples         *victim,
                    BenchFairnessResult  *result,
                    GError              **error)
{
  g_autofree int *fds = g_new (int, MAX (n_greedy, 1));
  Greedy greedy = { 0 };
  GThread *thread = NULL;
  gint64 start, window_start, window_end;
  struct timeval reply_timeout = { .tv_sec = VICTIM_REPLY_TIMEOUT_S };
  gboolean ok = FALSE;
  int victim_fd = -1;

  memset (result, 0, sizeof *result);
  result->n_greedy = n_greedy;
  greedy.epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  greedy.conns = g_new0 (GreedyConn, MAX (n_greedy, 1));
  greedy.n_conns = n_greedy;

  if (n_greedy > 0 && !bench_connect_many (path, fds, n_greedy, 30000, error))
    {
      greedy.n_conns = 0;
      goto out;
    }
  for (guint i = 0; i < n_greedy; i++)
    {
      struct epoll_event event = { .events = EPOLLIN | EPOLLOUT, .data.u32 = i };

      greedy.conns[i].fd = fds[i];
      epoll_ctl (greedy.epoll_fd, EPOLL_CTL_ADD, fds[i], &event);
    }

  victim_fd = bench_connect_blocking (path, error);
  if (victim_fd < 0)
    goto out;
  /* A request the server never answers fails the case instead of hanging it. */
  setsockopt (victim_fd, SOL_SOCKET, SO_RCVTIMEO, &reply_timeout, sizeof reply_timeout);

  thread = g_thread_new ("greedy", greedy_thread, &greedy);
  start = bench_now_ns ();
  window_start = start + FAIRNESS_WARMUP_NS;

  /* Warm-up round trips are thrown away. */
  {
    BenchSamples warmup = { 0 };
    gboolean warm = TRUE;

    while (warm && bench_now_ns () < window_start)
      warm = victim_round_trip (victim_fd, &warmup, error);
    bench_samples_clear (&warmup);
    if (!warm)
      goto out;
  }
  /* The window starts when the warm-up's last round trip ends, and holds
   * a few round trips however long they take: a victim kept from running
   * for longer than the window, as on a loaded machine or in the short
   * window of --quick, is measured, not left with no round trip at all. */
  window_end = bench_now_ns () + (gint64) (duration_s * 1e9);
  while (result->victim_round_trips < FAIRNESS_MIN_ROUND_TRIPS || bench_now_ns () < window_end)
    {
      if (!victim_round_trip (victim_fd, victim, error))
        goto out;
      result->victim_round_trips++;
    }
  ok = TRUE;

out:
  if (thread != NULL)
    {
      g_atomic_int_set (&greedy.stop, 1);
      g_thread_join (thread);
      result->greedy_replies_per_s = greedy.replies / ((bench_now_ns () - start) / 1e9);
      if (greedy.error != NULL && ok)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, greedy.error);
          ok = FALSE;
        }
      /* Every request is answered, the greedy ones' too. */
      if (ok && !greedy_drain (&greedy, error))
        ok = FALSE;
    }
  if (server_pid > 0 && !bench_child_alive (server_pid) && ok)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                           "the server exited during the run");
      ok = FALSE;
    }
  g_free (greedy.error);
  if (victim_fd >= 0)
    close (victim_fd);
  for (guint i = 0; i < greedy.n_conns; i++)
    close (greedy.conns[i].fd);
  g_free (greedy.conns);
  close (greedy.epoll_fd);
  return ok;
}
