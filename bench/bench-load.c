/* bench-load.c: the epoll load generator and the many-connections test
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "bench-load.h"
#include "bench-util.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS    1024
#define DRAIN_TIMEOUT_NS (G_GINT64_CONSTANT (10) * 1000000000)

typedef struct {
  int               fd;
  gboolean          in_flight;
  BenchReplyScanner scanner;
} LoadConn;

typedef struct {
  int       epoll_fd;
  LoadConn *conns;
  guint     n_conns;
  guint64   sent;
  guint64   answered;
  guint     outstanding;
} Load;

static void
load_clear (Load *load)
{
  for (guint i = 0; i < load->n_conns; i++)
    if (load->conns[i].fd >= 0)
      close (load->conns[i].fd);
  g_clear_pointer (&load->conns, g_free);
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

static gboolean
load_send (Load      *load,
           LoadConn  *conn,
           GError   **error)
{
  /* One 12-byte frame on a socket with nothing else in flight: the
   * kernel takes it whole. */
  ssize_t n = write (conn->fd, bench_ping_frame, BENCH_PING_FRAME_SIZE);

  if (n != BENCH_PING_FRAME_SIZE)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "cannot send a ping: %s", n < 0 ? g_strerror (errsv) : "short write");
      return FALSE;
    }
  conn->in_flight = TRUE;
  load->sent++;
  load->outstanding++;
  return TRUE;
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

gboolean
bench_load_run (const char       *path,
                pid_t             server_pid,
                guint             n_conns,
                double            warmup_s,
                double            duration_s,
                BenchLoadResult  *result,
                GError          **error)
{
  struct epoll_event events[MAX_EVENTS];
  gint64 start, window_start, window_end, now;
  guint64 answered_at_start = 0;
  double cpu_at_start = 0, self_at_start = 0;
  gboolean measuring = FALSE, sending = TRUE;
  gboolean ok = FALSE;
  Load load;

  memset (result, 0, sizeof *result);
  result->n_conns = n_conns;

  if (!load_open (&load, path, n_conns, error))
    return FALSE;

  for (guint i = 0; i < n_conns; i++)
    if (!load_send (&load, &load.conns[i], error))
      goto out;

  start = bench_now_ns ();
  window_start = start + (gint64) (warmup_s * 1e9);
  window_end = window_start + (gint64) (duration_s * 1e9);

  for (;;)
    {
      int n;

      now = bench_now_ns ();
      if (!measuring && now >= window_start)
        {
          measuring = TRUE;
          window_start = now;
          answered_at_start = load.answered;
          cpu_at_start = bench_proc_cpu_seconds (server_pid);
          self_at_start = bench_thread_cpu_seconds ();
        }
      if (measuring && sending && now >= window_end)
        {
          double cpu = bench_proc_cpu_seconds (server_pid);

          sending = FALSE;
          result->window_s = (now - window_start) / 1e9;
          result->req_per_s = (load.answered - answered_at_start) / result->window_s;
          result->server_cpu = cpu >= 0 && cpu_at_start >= 0
                             ? (cpu - cpu_at_start) / result->window_s : -1;
          result->loadgen_cpu = (bench_thread_cpu_seconds () - self_at_start) / result->window_s;
        }
      if (!sending && load.outstanding == 0)
        break;
      if (!sending && now > window_end + DRAIN_TIMEOUT_NS)
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
        if (!load_receive (&load, &load.conns[events[i].data.u32], sending, error))
          goto out;
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
