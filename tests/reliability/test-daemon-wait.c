/* test-daemon-wait.c: rabcd waits once per round, and still hears
 * everything
 *
 * rabcd's main loop waits for the clients and for its own sources in one
 * epoll_wait() on the server's epoll set.  These tests catch the daemon
 * in that wait, from /proc/PID/syscall, with nothing that would wake it
 * but what each test sends: a signal, which GLib delivers through its
 * wake-up descriptor, or the deadline of a client stuck in the middle of
 * a frame, which only the wait's timeout brings.
 *
 * SPDX-License-Identifier: MIT
 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rabc-test-util.h"
#include "rabcd-probe.h"

static char *tmpdir;

/* How long the daemon may take to get back to its wait. */
#define WAIT_TIMEOUT_MS 10000

static gboolean
is_epoll_wait (long nr)
{
#ifdef SYS_epoll_wait
  if (nr == SYS_epoll_wait)
    return TRUE;
#endif
#ifdef SYS_epoll_pwait
  if (nr == SYS_epoll_pwait)
    return TRUE;
#endif
#ifdef SYS_epoll_pwait2
  if (nr == SYS_epoll_pwait2)
    return TRUE;
#endif
  return FALSE;
}

/* Whether the daemon's main thread is blocked in epoll_wait(), and with
 * what timeout (its fourth argument, in milliseconds, -1 for none). */
static gboolean
read_wait (Daemon *daemon,
           int    *timeout)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/syscall", (int) daemon->pid);
  g_autofree char *text = NULL;
  g_auto(GStrv) fields = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  fields = g_strsplit (g_strstrip (text), " ", 0);
  if (g_strv_length (fields) < 5 || !is_epoll_wait (strtol (fields[0], NULL, 10)))
    return FALSE;
  *timeout = (int) strtoll (fields[4], NULL, 16);
  return TRUE;
}

/* Waits until the daemon is blocked in its single wait with no timeout:
 * nothing in it is due, and it does not poll anything else first. */
static void
wait_until_idle_in_epoll (Daemon *daemon)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_TIMEOUT_MS * 1000;
  int timeout = 0;

  while (!read_wait (daemon, &timeout) || timeout != -1)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("rabcd (pid %d) did not come to wait in epoll_wait() with no timeout",
                 (int) daemon->pid);
      g_usleep (1000);
    }
}

static void
on_exited (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  gboolean *done = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *done = TRUE;
}

/* The daemon, blocked with no timeout, wakes for @signum and stops
 * cleanly: status 0, socket file removed. */
static void
stop_while_waiting (int signum)
{
  Daemon *daemon = daemon_start (signum == SIGINT ? "sigint" : "sigterm", 0);
  gboolean done = FALSE;
  g_autofree char *log = NULL;

  wait_until_idle_in_epoll (daemon);
  g_subprocess_send_signal (daemon->process, signum);
  g_subprocess_wait_async (daemon->process, NULL, on_exited, &done);
  rabc_test_wait_for (&done, WAIT_TIMEOUT_MS);

  g_assert_true (g_subprocess_get_if_exited (daemon->process));
  g_assert_cmpint (g_subprocess_get_exit_status (daemon->process), ==, 0);
  g_assert_false (g_file_test (daemon->socket_path, G_FILE_TEST_EXISTS));
  log = daemon_read_log (daemon);
  assert_log_clean (log);
  daemon_free (daemon);
}

/* Whether this kernel shows what a process is blocked in. */
static gboolean
can_see_waits (void)
{
  g_autofree char *text = NULL;

  if (g_file_get_contents ("/proc/self/syscall", &text, NULL, NULL))
    return TRUE;
  g_test_skip ("/proc/PID/syscall cannot be read here");
  return FALSE;
}

static void
test_sigterm (void)
{
  if (can_see_waits ())
    stop_while_waiting (SIGTERM);
}

static void
test_sigint (void)
{
  if (can_see_waits ())
    stop_while_waiting (SIGINT);
}

/* A client stuck in the middle of a header is dropped when its frame
 * timeout runs out, although nothing else wakes the daemon; another
 * client is answered meanwhile, and a signal still stops the daemon once
 * it is back to waiting with no timeout. */
static void
test_frame_timeout (void)
{
  static const char *const args[] = { "--frame-timeout", "300", NULL };
  DaemonOptions options = { .name = "frame-timeout", .args = args };
  Daemon *daemon;
  int stuck;

  if (!can_see_waits ())
    return;

  daemon = daemon_start_full (&options);
  wait_until_idle_in_epoll (daemon);
  stuck = connect_raw (daemon);
  write_partial_header (stuck, 4, 3);
  assert_daemon_answers (daemon);
  assert_closed_without_reply (stuck);
  close (stuck);

  wait_until_idle_in_epoll (daemon);
  daemon_stop (daemon);
  daemon_free (daemon);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  test_process_setup ();

  tmpdir = rabc_test_make_tmpdir ();
  daemon_set_directory (tmpdir);

  g_test_add_func ("/rabc/daemon-wait/sigterm", test_sigterm);
  g_test_add_func ("/rabc/daemon-wait/sigint", test_sigint);
  g_test_add_func ("/rabc/daemon-wait/frame-timeout", test_frame_timeout);

  ret = g_test_run ();

  rabc_test_remove_tmpdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
