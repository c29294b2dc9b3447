/* test-limits.c: a real rabcd against hostile local users
 *
 * Each scenario is an attack that crashed, bloated, starved or fooled
 * rabcd or its clients before the limits existed: replies left unread,
 * partial frames held open, bare headers under a memory limit, connections
 * until the descriptors run out, floods of refused connections, daemons
 * started at once, and another user's daemon on the path.  Each checks that
 * the daemon survives, that a victim is answered, and that memory,
 * descriptors and log lines stay within their documented bounds.
 *
 * Scenarios that need other users create them (useradd) and run their
 * attacks as them (setpriv); without root they are skipped, saying so.
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "rabc-test-util.h"
#include "rabcd-probe.h"

#define HOSTILE_USER "rabctest1"
#define THIRD_USER "rabctest2"

/* The daemon's log bounds: at most 10 messages of a kind in 10 s, and a
 * summary line for the rest. */
#define LOG_BURST 10

static char *tmpdir;

/* --- the attacker, a process of its own -------------------------------- */

typedef struct {
  GSubprocess      *process;
  GDataInputStream *out;
} Hostile;

/* Runs rabc-hostile with @args, as @user (or as the test's user when
 * NULL). */
static Hostile *
hostile_start (const TestUser     *user,
               const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  Hostile *hostile = g_new0 (Hostile, 1);
  const char *program = g_getenv ("RABC_HOSTILE");

  g_assert_nonnull (program);
  if (user != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("setpriv"));
      g_ptr_array_add (argv, g_strdup_printf ("--reuid=%u", (guint) user->uid));
      g_ptr_array_add (argv, g_strdup_printf ("--regid=%u", (guint) user->gid));
      g_ptr_array_add (argv, g_strdup ("--clear-groups"));
      g_ptr_array_add (argv, g_strdup ("--pdeathsig=KILL"));
      g_ptr_array_add (argv, g_strdup ("--"));
    }
  g_ptr_array_add (argv, g_strdup (program));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  hostile->process = g_subprocess_newv ((const char * const *) argv->pdata,
                                        G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  hostile->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (hostile->process));
  return hostile;
}

static char *
hostile_read_line (Hostile *hostile)
{
  g_autoptr(GError) error = NULL;
  char *line = g_data_input_stream_read_line_utf8 (hostile->out, NULL, NULL, &error);

  g_assert_no_error (error);
  if (line == NULL)
    g_error ("rabc-hostile ended without saying what it did");
  return line;
}

/* Ends its standard input, so that it lets its connections go, and waits
 * for it to exit 0. */
static void
hostile_stop (Hostile *hostile)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_close (g_subprocess_get_stdin_pipe (hostile->process), NULL, NULL);
  g_subprocess_wait_check (hostile->process, NULL, &error);
  g_assert_no_error (error);
  g_object_unref (hostile->out);
  g_object_unref (hostile->process);
  g_free (hostile);
}

/* The other user, or NULL after marking the test skipped. */
static const TestUser *
require_user (const char *name)
{
  const TestUser *user = test_user_get (name);

  if (user == NULL)
    {
      g_autofree char *why = g_strdup_printf ("needs the user %s, and only root can create it",
                                              name);
      g_test_skip (why);
    }
  return user;
}

/* A daemon every user may connect to. */
static Daemon *
start_open_daemon (const char         *name,
                   rlim_t              nofile,
                   const char * const *more_args)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();

  g_ptr_array_add (args, (char *) "--mode");
  g_ptr_array_add (args, (char *) "0666");
  for (guint i = 0; more_args != NULL && more_args[i] != NULL; i++)
    g_ptr_array_add (args, (char *) more_args[i]);
  g_ptr_array_add (args, NULL);

  return daemon_start_full (&(DaemonOptions) {
                              .name = name,
                              .nofile = nofile,
                              .args = (const char * const *) args->pdata,
                            });
}

/* A client that is answered, as @user. */
static void
assert_user_answered (Daemon         *daemon,
                      const TestUser *user)
{
  const char *args[] = { "hold", daemon->socket_path, "1", NULL };
  Hostile *client = hostile_start (user, args);
  g_autofree char *line = hostile_read_line (client);

  g_assert_cmpstr (line, ==, "held 1");
  hostile_stop (client);
}

static guint
count_in_log (Daemon     *daemon,
              const char *text)
{
  g_autofree char *log = daemon_read_log (daemon);
  guint n = 0;

  for (const char *p = strstr (log, text); p != NULL; p = strstr (p + 1, text))
    n++;
  return n;
}

static guint
count_log_lines (Daemon *daemon)
{
  g_autofree char *log = daemon_read_log (daemon);
  guint n = 0;

  for (const char *p = log; *p != '\0'; p++)
    n += *p == '\n';
  return n;
}

static double
cpu_seconds (Daemon *daemon)
{
  return (double) read_cpu_ticks (daemon->pid, NULL) / sysconf (_SC_CLK_TCK);
}

static void
stop_and_check_log (Daemon *daemon)
{
  g_autofree char *log = NULL;

  daemon_stop (daemon);
  log = daemon_read_log (daemon);
  assert_log_clean (log);
  daemon_free (daemon);
}

/* --- 1. replies left unread --------------------------------------------- */

#define UNREAD_BYTES (600 * 1000)
#define UNREAD_TOTAL (32 * 1024 * 1024)
#define UNREAD_PEAK_BOUND_KIB (4 * 1024)

/* The client always leaves about 600 KB of replies unread and otherwise
 * reads as fast as it sends.  The daemon once kept every reply it ever
 * wrote to it, and grew by 64 MiB a second until GLib aborted it. */
static void
test_unread_replies (void)
{
  Daemon *daemon = daemon_start ("unread.sock", 0);
  const gsize n_pings = 64 * 1024 / (HEADER_SIZE + 4);
  g_autofree guint8 *pings = g_malloc (n_pings * (HEADER_SIZE + 4));
  gsize chunk = n_pings * (HEADER_SIZE + 4);
  gsize sent = 0, received = 0;
  gboolean peak_known;
  guint64 peak;
  Measure measure;
  int fd;

  for (gsize i = 0; i < n_pings; i++)
    encode_short_frame (pings + i * (HEADER_SIZE + 4), "ping");

  measure_begin (daemon, &measure, "600 KB of replies always left unread");
  peak_known = rabc_test_reset_peak_rss (daemon->pid);
  fd = connect_raw (daemon);
  g_assert_cmpint (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK), ==, 0);

  /* Until a whole number of pings is sent and answered. */
  while (sent < UNREAD_TOTAL || sent % (HEADER_SIZE + 4) != 0 || received < sent)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      guint8 buffer[64 * 1024];
      ssize_t n;

      if ((sent < UNREAD_TOTAL || sent % (HEADER_SIZE + 4) != 0) &&
          sent - received < UNREAD_BYTES + chunk)
        {
          gsize offset = sent % chunk;

          n = send (fd, pings + offset, chunk - offset, MSG_NOSIGNAL);
          if (n > 0)
            sent += n;
          else if (errno != EAGAIN && errno != EINTR)
            g_error ("the daemon closed the connection: %s", g_strerror (errno));
          pfd.events |= POLLOUT;
        }

      /* Replies are the size of the requests: keep 600 KB of them unread,
       * except at the end. */
      if (sent - received > UNREAD_BYTES || (sent >= UNREAD_TOTAL && received < sent))
        {
          n = recv (fd, buffer, MIN (sizeof buffer, sent - received), 0);
          if (n > 0)
            received += n;
          else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            g_error ("the daemon closed the connection after %" G_GSIZE_FORMAT " bytes", received);
        }
      else if (poll (&pfd, 1, IO_TIMEOUT_S * 1000) == 0)
        g_error ("no progress for %d s", IO_TIMEOUT_S);
    }
  g_assert_cmpuint (received, ==, sent);

  peak = rabc_test_read_status_kib (daemon->pid, peak_known ? "VmHWM:" : "VmRSS:");
  close (fd);
  g_test_message ("32 MiB of requests, 600 KB of replies always unread: daemon's %s "
                  "%+" G_GINT64_FORMAT " KiB over %" G_GUINT64_FORMAT " KiB (bound %d KiB)",
                  peak_known ? "peak VmRSS" : "VmRSS", (gint64) peak - (gint64) measure.rss_before,
                  measure.rss_before, UNREAD_PEAK_BOUND_KIB);
  g_assert_cmpint ((gint64) peak - (gint64) measure.rss_before, <=, UNREAD_PEAK_BOUND_KIB);
  measure_end (daemon, &measure, 2048);
  stop_and_check_log (daemon);
}

/* --- 2. partial frames held open: the memory budget ---------------------- */

#define BUDGET_CONNS 100
#define BUDGET_PARTIAL (900 * 1024)
#define BUDGET_KIB (64 * 1024)
/* What the daemon may hold beyond its budget: one read's worth, and the
 * heap's own. */
#define BUDGET_SLACK_KIB (8 * 1024)

/* Another user opens 100 connections, each holding 900 KiB of a frame of
 * 1 MiB - 1: 90 MiB, against a budget of 64 MiB.  Before the budget, 500
 * such connections pinned 872 MiB, forever. */
static void
test_memory_budget (void)
{
  const TestUser *hostile_user = require_user (HOSTILE_USER);
  const char *daemon_args[] = { "--frame-timeout", "0", NULL };
  g_autofree char *count = g_strdup_printf ("%d", BUDGET_CONNS);
  g_autofree char *bytes = g_strdup_printf ("%d", BUDGET_PARTIAL);
  g_autofree char *line = NULL;
  g_autofree char *big = NULL;
  Daemon *daemon;
  Hostile *hostile;
  guint held, dropped;
  guint64 peak;
  Measure measure;
  int fd;

  if (hostile_user == NULL)
    return;

  daemon = start_open_daemon ("budget.sock", 0, daemon_args);
  measure_begin (daemon, &measure, "100 partial frames of 900 KiB, another user's");
  g_assert_true (rabc_test_reset_peak_rss (daemon->pid));

  {
    const char *args[] = { "partial", daemon->socket_path, count, bytes, NULL };

    hostile = hostile_start (hostile_user, args);
    line = hostile_read_line (hostile);
  }
  /* Written is not yet read: wait until the daemon has taken it all. */
  held = wait_for_stable_fd_count (daemon) - daemon->fd_baseline;
  peak = rabc_test_read_status_kib (daemon->pid, "VmHWM:");
  dropped = count_in_log (daemon, "max-buffered-bytes");
  g_test_message ("budget: the attacker says \"%s\"; the daemon holds %u of its connections "
                  "(%u log lines about dropping the others); peak VmRSS %+" G_GINT64_FORMAT
                  " KiB (budget %d KiB)", line, held, dropped,
                  (gint64) peak - (gint64) measure.rss_before, BUDGET_KIB);
  g_assert_cmpint ((gint64) peak - (gint64) measure.rss_before, <=, BUDGET_KIB + BUDGET_SLACK_KIB);
  /* A frame's buffer doubles as it grows: 900 KiB of one take 1 MiB.  So
   * 64 fit, and the budget is used, not wasted. */
  g_assert_cmpuint (held, <=, BUDGET_KIB / 1024);
  g_assert_cmpuint (held, >=, BUDGET_KIB / 1024 - 4);
  g_assert_cmpuint (dropped, >, 0);
  g_assert_cmpuint (dropped, <=, LOG_BURST);

  /* Meanwhile a user holding less than its share is served, a message of
   * 1 MiB - 1 included: the attacker's connections make way. */
  big = g_malloc (MAX_MESSAGE_SIZE - 1);
  memset (big, 'b', MAX_MESSAGE_SIZE - 1);
  fd = connect_raw (daemon);
  rabc_test_write_frame (fd, big, MAX_MESSAGE_SIZE - 1);
  assert_pong (fd);
  close (fd);
  assert_daemon_answers (daemon);

  hostile_stop (hostile);
  measure_end (daemon, &measure, 2048);
  stop_and_check_log (daemon);
}

#define KEPT_BUDGET (512 * 1024)
#define KEPT_LONG (400 * 1024)
#define KEPT_OTHER (300 * 1024)
#define KEPT_PARTIAL (200 * 1024)

/* A connection keeps the buffer of its last long message for its next
 * one.  When another client's partial frame takes the daemon over its
 * budget, that kept buffer, the largest holding, is given back rather
 * than its client disconnected: both clients are answered after. */
static void
test_kept_buffers_first (void)
{
  g_autofree char *budget = g_strdup_printf ("%d", KEPT_BUDGET);
  const char *daemon_args[] = { "--frame-timeout", "0", "--max-buffered-bytes", budget,
                                "--verbose", NULL };
  g_autofree char *text = g_malloc (KEPT_LONG);
  Daemon *daemon;
  int keeper, filler;
  gint64 deadline;

  memset (text, 'k', KEPT_LONG);
  daemon = start_open_daemon ("kept.sock", 0, daemon_args);

  keeper = connect_raw (daemon);
  rabc_test_write_frame (keeper, text, KEPT_LONG);
  assert_pong (keeper);

  filler = connect_raw (daemon);
  write_header (filler, KEPT_OTHER);
  rabc_test_write_all (filler, text, KEPT_PARTIAL);

  deadline = g_get_monotonic_time () + IO_TIMEOUT_S * G_USEC_PER_SEC;
  while (count_in_log (daemon, "over budget: giving back the buffer kept") == 0)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("no kept buffer given back; rabcd logged:\n%s", daemon_read_log (daemon));
      g_usleep (10 * 1000);
    }
  g_assert_cmpuint (count_in_log (daemon, "disconnecting"), ==, 0);

  /* Neither was disconnected. */
  rabc_test_write_frame (keeper, "ping", 4);
  assert_pong (keeper);
  rabc_test_write_all (filler, text, KEPT_OTHER - KEPT_PARTIAL);
  assert_pong (filler);
  g_assert_cmpuint (count_in_log (daemon, "disconnecting"), ==, 0);

  close (keeper);
  close (filler);
  stop_and_check_log (daemon);
}

/* --- 3. bare headers under a memory limit -------------------------------- */

#define HEADERS_CONNS 2000
#define HEADERS_AS (384 * 1024 * 1024)

/* 2,000 connections send the header of a 1 MiB - 1 frame and nothing
 * else, to a daemon limited to 384 MiB of address space.  When a header
 * reserved the whole frame, 320 of them killed it. */
static void
test_bare_headers (void)
{
  const char *args[] = { "--max-clients", "4000", "--max-clients-per-uid", "4000",
                         "--frame-timeout", "0", NULL };
  g_autofree int *fds = g_new (int, HEADERS_CONNS);
  Daemon *daemon = daemon_start_full (&(DaemonOptions) {
                                        .name = "headers.sock",
                                        .address_space = HEADERS_AS,
                                        .args = args,
                                      });
  guint64 rss_held;
  Measure measure;

  measure_begin (daemon, &measure, "2000 bare headers of 1 MiB - 1, in 384 MiB");
  for (guint i = 0; i < HEADERS_CONNS; i++)
    {
      fds[i] = connect_raw (daemon);
      write_header (fds[i], MAX_MESSAGE_SIZE - 1);
    }
  g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline + HEADERS_CONNS), ==,
                    daemon->fd_baseline + HEADERS_CONNS);
  assert_daemon_answers (daemon);
  rss_held = read_rss_kib (daemon->pid);
  g_test_message ("2000 bare headers: the daemon holds them all in %+" G_GINT64_FORMAT " KiB",
                  (gint64) rss_held - (gint64) measure.rss_before);
  /* A few hundred bytes each, not the 1 MiB they announce. */
  g_assert_cmpint ((gint64) rss_held - (gint64) measure.rss_before, <=, 2048);

  for (guint i = 0; i < HEADERS_CONNS; i++)
    close (fds[i]);
  measure_end (daemon, &measure, 1024);
  stop_and_check_log (daemon);
}

/* --- 4. out of memory ---------------------------------------------------- */

#define OOM_HEADROOM (48 * 1024 * 1024)
#define OOM_MAX_CONNS 200

/* A daemon whose address space runs out before its budget does: the
 * client whose frame cannot grow is dropped with a log line, and the
 * daemon goes on.  g_malloc() would have aborted it. */
static void
test_out_of_memory (void)
{
  const char *args[] = { "--max-buffered-bytes", "1073741824", "--frame-timeout", "0", NULL };
  g_autofree char *filler = g_malloc (BUDGET_PARTIAL);
  g_autofree int *fds = g_new (int, OOM_MAX_CONNS);
  Daemon *probe = daemon_start ("oom-probe.sock", 0);
  guint64 vm_size = rabc_test_read_status_kib (probe->pid, "VmSize:");
  Daemon *daemon;
  guint n = 0;

  daemon_stop (probe);
  daemon_free (probe);
  daemon = daemon_start_full (&(DaemonOptions) {
                                .name = "oom.sock",
                                .address_space = vm_size * 1024 + OOM_HEADROOM,
                                .args = args,
                              });

  memset (filler, 'a', BUDGET_PARTIAL);
  while (n < OOM_MAX_CONNS && count_in_log (daemon, "out of memory") == 0)
    {
      fds[n] = connect_raw (daemon);
      write_header (fds[n], MAX_MESSAGE_SIZE - 1);
      rabc_test_write_all (fds[n], filler, BUDGET_PARTIAL);
      n++;
      /* Written is not yet read: let the daemon take it. */
      assert_daemon_answers (daemon);
    }
  g_test_message ("out of memory after %u partial frames of 900 KiB, in %" G_GUINT64_FORMAT
                  " KiB of address space", n, vm_size + OOM_HEADROOM / 1024);
  g_assert_cmpuint (count_in_log (daemon, "out of memory"), >, 0);
  assert_running (daemon);
  assert_daemon_answers (daemon);

  for (guint i = 0; i < n; i++)
    close (fds[i]);
  g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline), ==, daemon->fd_baseline);
  assert_daemon_answers (daemon);
  stop_and_check_log (daemon);
}

/* --- 5. the frame timeout ------------------------------------------------ */

#define FRAME_TIMEOUT_MS 1000

static gboolean
still_open (int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };

  return poll (&pfd, 1, 0) == 0;
}

/* Whether the daemon has closed its end, without reading what it sent:
 * the end shows at once, however much is left unread. */
static gboolean
hung_up (int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

  return poll (&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP)) != 0;
}

/* Partial frames, in either direction, are dropped after the timeout;
 * idle connections and slow ones that make progress are not. */
static void
test_frame_timeout (void)
{
  const char *args[] = { "--frame-timeout", "1000", NULL };
  const gsize n_pings = 64 * 1024 / (HEADER_SIZE + 4);
  g_autofree guint8 *pings = g_malloc (n_pings * (HEADER_SIZE + 4));
  Daemon *daemon = daemon_start_full (&(DaemonOptions) { .name = "timeout.sock", .args = args });
  int header_fd, payload_fd, unread_fd, idle_fd, slow_fd;
  guint8 slow_frame[HEADER_SIZE + 4];
  gint64 start, end = 0;
  Measure measure;

  for (gsize i = 0; i < n_pings; i++)
    encode_short_frame (pings + i * (HEADER_SIZE + 4), "ping");
  encode_short_frame (slow_frame, "ping");

  measure_begin (daemon, &measure, "frame timeout of 1 s");
  start = g_get_monotonic_time ();

  header_fd = connect_raw (daemon);
  write_partial_header (header_fd, 4, 5);
  payload_fd = connect_raw (daemon);
  write_header (payload_fd, 100);
  rabc_test_write_all (payload_fd, "abc", 3);
  /* Requests until the daemon stops reading, replies never read. */
  unread_fd = connect_raw (daemon);
  g_assert_cmpint (fcntl (unread_fd, F_SETFL, fcntl (unread_fd, F_GETFL) | O_NONBLOCK), ==, 0);
  while (send (unread_fd, pings, n_pings * (HEADER_SIZE + 4), MSG_NOSIGNAL) > 0)
    ;
  idle_fd = connect_raw (daemon);
  slow_fd = connect_raw (daemon);

  /* The slow one sends a byte every 100 ms, a tenth of the timeout,
   * until the others are gone. */
  for (guint i = 0; still_open (header_fd) || still_open (payload_fd) || !hung_up (unread_fd); i++)
    {
      rabc_test_write_all (slow_fd, slow_frame + i % sizeof slow_frame, 1);
      if (i % sizeof slow_frame == sizeof slow_frame - 1)
        assert_pong (slow_fd);
      g_usleep (100 * 1000);
      if (g_get_monotonic_time () - start > CLOSE_TIMEOUT_MS * 1000)
        g_error ("the daemon did not drop the stuck connections within %d ms", CLOSE_TIMEOUT_MS);
      if (end == 0 && !still_open (header_fd) && !still_open (payload_fd))
        end = g_get_monotonic_time ();
    }
  assert_closed_without_reply (header_fd);
  assert_closed_without_reply (payload_fd);
  g_test_message ("frame timeout: partial frames dropped after %" G_GINT64_FORMAT " ms",
                  (end - start) / 1000);
  g_assert_cmpint (end - start, >=, FRAME_TIMEOUT_MS * 1000);

  /* Idle for more than the timeout, and answered; and the slow one,
   * still going. */
  g_assert_true (still_open (idle_fd));
  rabc_test_write_frame (idle_fd, "ping", 4);
  assert_pong (idle_fd);
  g_assert_true (still_open (slow_fd));
  rabc_test_write_frame (slow_fd, "ping", 4);
  assert_pong (slow_fd);

  g_assert_cmpuint (count_in_log (daemon, "stopped in the middle of a message for 1000 ms"), ==, 2);
  g_assert_cmpuint (count_in_log (daemon, "has not read its replies for 1000 ms"), ==, 1);

  close (header_fd);
  close (payload_fd);
  close (unread_fd);
  close (idle_fd);
  close (slow_fd);
  measure_end (daemon, &measure, 2048);
  stop_and_check_log (daemon);
}

/* --- 6. connections per user and in all ---------------------------------- */

/* Reads a reply: TRUE for a "pong", FALSE when the daemon closes the
 * connection instead. */
static gboolean
read_until_closed_or_pong (int fd)
{
  guint8 reply[HEADER_SIZE + 4];
  gsize got = 0;

  while (got < sizeof reply)
    {
      ssize_t n = recv (fd, reply + got, sizeof reply - got, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        g_error ("neither a reply nor a close within %d s", IO_TIMEOUT_S);
      if (n <= 0)
        return FALSE;
      got += n;
    }
  return memcmp (reply + HEADER_SIZE, "pong", 4) == 0;
}

static int
connect_and_ping (Daemon *daemon,
                  gboolean *answered)
{
  int fd = connect_raw (daemon);
  guint8 ping[HEADER_SIZE + 4];

  encode_short_frame (ping, "ping");
  rabc_test_write_all (fd, ping, sizeof ping);
  *answered = read_until_closed_or_pong (fd);
  return fd;
}

/* --max-clients 8 --max-clients-per-uid 3: a fourth connection of one
 * user is closed at once, so is a ninth in all; a user under its share
 * still gets in; a place freed is taken again. */
static void
test_connection_limits (void)
{
  const TestUser *other = require_user (HOSTILE_USER);
  const TestUser *third = require_user (THIRD_USER);
  const char *args[] = { "--max-clients", "8", "--max-clients-per-uid", "3", NULL };
  const char *hold_args[] = { "hold", NULL, "10", NULL };
  g_autofree char *line = NULL;
  Hostile *other_hold, *third_hold;
  int fds[4];
  gboolean answered;
  Daemon *daemon;

  if (other == NULL || third == NULL)
    return;

  daemon = start_open_daemon ("conns.sock", 0, args);
  hold_args[1] = daemon->socket_path;

  /* Root: three, then refused. */
  for (guint i = 0; i < 3; i++)
    {
      fds[i] = connect_and_ping (daemon, &answered);
      g_assert_true (answered);
    }
  fds[3] = connect_and_ping (daemon, &answered);
  g_assert_false (answered);
  close (fds[3]);

  /* Another user gets its three, the next one two: eight in all. */
  other_hold = hostile_start (other, hold_args);
  line = hostile_read_line (other_hold);
  g_assert_cmpstr (line, ==, "held 3");
  g_clear_pointer (&line, g_free);
  third_hold = hostile_start (third, hold_args);
  line = hostile_read_line (third_hold);
  g_assert_cmpstr (line, ==, "held 2");

  g_assert_cmpuint (count_in_log (daemon, "the most one user may have (max-clients-per-uid)"), ==, 2);
  g_assert_cmpuint (count_in_log (daemon, "the most the server takes (max-clients)"), ==, 1);

  /* One of root's leaves: root may connect again. */
  close (fds[0]);
  g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline + 7), ==,
                    daemon->fd_baseline + 7);
  fds[0] = connect_and_ping (daemon, &answered);
  g_assert_true (answered);

  for (guint i = 0; i < 3; i++)
    close (fds[i]);
  hostile_stop (other_hold);
  hostile_stop (third_hold);
  g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline), ==, daemon->fd_baseline);
  stop_and_check_log (daemon);
}

/* --- 7. out of descriptors ----------------------------------------------- */

#define SMALL_NOFILE 256
#define CPU_SPIN_BOUND_S 0.3

/* With RLIMIT_NOFILE 256, one user opens connections until refused: root
 * and a third user still get in.  Then the limit is lowered under the
 * daemon's feet, so that accept() fails: it neither spins nor floods its
 * log, and serves the waiting clients once descriptors come back. */
static void
test_descriptor_limit (void)
{
  const TestUser *hostile_user = require_user (HOSTILE_USER);
  const TestUser *third = require_user (THIRD_USER);
  const char *hold_args[] = { "hold", NULL, "1000", NULL };
  g_autofree char *line = NULL;
  struct rlimit limit, lowered;
  Hostile *hostile;
  Daemon *daemon;
  double cpu_before, cpu_s;
  guint held, fds_now;
  int waiting[8];
  gint64 deadline;

  if (hostile_user == NULL || third == NULL)
    return;

  daemon = start_open_daemon ("nofile.sock", SMALL_NOFILE, NULL);
  g_assert_cmpint (prlimit (daemon->pid, RLIMIT_NOFILE, NULL, &limit), ==, 0);
  g_assert_cmpuint (limit.rlim_cur, ==, SMALL_NOFILE);

  hold_args[1] = daemon->socket_path;
  hostile = hostile_start (hostile_user, hold_args);
  line = hostile_read_line (hostile);
  g_assert_true (g_str_has_prefix (line, "held "));
  held = atoi (line + 5);
  g_test_message ("descriptor limit %d: one user got %u connections before it was refused",
                  SMALL_NOFILE, held);
  /* Its share: 256 of the 2048, of what the descriptors allow. */
  g_assert_cmpuint (held, >=, 1);
  g_assert_cmpuint (held, <=, SMALL_NOFILE / 8);

  assert_daemon_answers (daemon);
  assert_user_answered (daemon, third);

  /* Now out of descriptors for real: two more than it holds. */
  fds_now = count_fds (daemon->pid);
  lowered = (struct rlimit) { .rlim_cur = fds_now + 2, .rlim_max = limit.rlim_max };
  g_assert_cmpint (prlimit (daemon->pid, RLIMIT_NOFILE, &lowered, NULL), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (waiting); i++)
    {
      waiting[i] = connect_raw (daemon);
      rabc_test_write_frame (waiting[i], "ping", 4);
    }
  /* Two get in, and the accept() of the third fails. */
  deadline = g_get_monotonic_time () + SETTLE_TIMEOUT_MS * 1000;
  while (count_in_log (daemon, "Too many open files") == 0 && g_get_monotonic_time () < deadline)
    g_usleep (10 * 1000);
  g_assert_cmpuint (count_in_log (daemon, "Too many open files"), >, 0);

  cpu_before = cpu_seconds (daemon);
  g_usleep (G_USEC_PER_SEC);
  cpu_s = cpu_seconds (daemon) - cpu_before;
  g_test_message ("out of descriptors: %.2f s of CPU in 1 s of refusing (bound %.1f s); "
                  "%u log lines about it", cpu_s, CPU_SPIN_BOUND_S,
                  count_in_log (daemon, "Too many open files"));
  g_assert_cmpfloat (cpu_s, <, CPU_SPIN_BOUND_S);
  g_assert_cmpuint (count_in_log (daemon, "Too many open files"), <=, LOG_BURST);
  assert_running (daemon);

  /* Descriptors back: every waiting client is answered. */
  g_assert_cmpint (prlimit (daemon->pid, RLIMIT_NOFILE, &limit, NULL), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (waiting); i++)
    {
      assert_pong (waiting[i]);
      close (waiting[i]);
    }

  hostile_stop (hostile);
  g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline), ==, daemon->fd_baseline);
  assert_daemon_answers (daemon);
  stop_and_check_log (daemon);
}

/* --- 8. refused, again and again: the log -------------------------------- */

#define FLOOD_SECONDS "3"

/* A user that --allow-uid refuses connects as fast as it can for 3 s.  The
 * daemon once wrote 112,000 lines for it; now at most 10 of them, and one
 * saying how many more there were. */
static void
test_log_flood (void)
{
  const TestUser *refused_user = require_user (HOSTILE_USER);
  const char *args[] = { "--mode", "0666", "--allow-uid", "0", NULL };
  const char *flood_args[] = { "flood", NULL, FLOOD_SECONDS, NULL };
  g_autofree char *expected = NULL;
  g_autofree char *line = NULL;
  g_autofree char *log = NULL;
  Daemon *daemon;
  Hostile *flood;
  guint refused, lines;

  if (refused_user == NULL)
    return;

  daemon = daemon_start_full (&(DaemonOptions) { .name = "flood.sock", .args = args });
  flood_args[1] = daemon->socket_path;
  flood = hostile_start (refused_user, flood_args);
  line = hostile_read_line (flood);
  hostile_stop (flood);
  expected = g_strdup_printf ("refusing a connection from uid %u", (guint) refused_user->uid);
  refused = count_in_log (daemon, expected);
  lines = count_log_lines (daemon);
  g_test_message ("%s refused in %s s: %u log lines, %u of them refusals", line,
                  FLOOD_SECONDS, lines, refused);
  g_assert_cmpuint (refused, ==, LOG_BURST);
  g_assert_cmpuint (lines, <=, LOG_BURST + 1);

  /* Stopping says how many were not logged. */
  daemon_stop (daemon);
  log = daemon_read_log (daemon);
  g_assert_nonnull (strstr (log, "more messages about refused connections were not logged"));
  g_assert_cmpuint (count_log_lines (daemon), <=, LOG_BURST + 2);
  assert_log_clean (log);
  daemon_free (daemon);
}

/* --- 9. started at once -------------------------------------------------- */

#define RACE_TRIALS 300
#define RACE_DAEMONS 4

static void
make_stale_socket (const char *path)
{
  struct sockaddr_un addr;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  fill_address (&addr, path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  close (fd);
}

static void
on_exited (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  guint *n_exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  (*n_exited)++;
}

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* Whether a socket bound to @path listens, as the kernel's table of Unix
 * sockets says: listen(2) sets __SO_ACCEPTCON (1 << 16) in its flags. */
static gboolean
socket_listens (const char *path)
{
  g_autofree char *table = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_true (g_file_get_contents ("/proc/net/unix", &table, NULL, NULL));
  lines = g_strsplit (table, "\n", -1);
  /* Num RefCount Protocol Flags Type St Inode Path, after a header. */
  for (guint i = 1; lines[i] != NULL; i++)
    {
      unsigned int flags;
      int path_at = -1;

      if (sscanf (lines[i], "%*s %*x %*x %x %*x %*x %*u %n", &flags, &path_at) == 1 &&
          path_at > 0 && (flags & (1u << 16)) != 0 && g_str_equal (lines[i] + path_at, path))
        return TRUE;
    }
  return FALSE;
}

/* Four daemons started at the same moment on a stale socket file: exactly
 * one serves, the three others exit 1 and say why.  Without a lock, two
 * could both find the file stale, replace it, and both stay.
 *
 * The others give up as soon as they find the lock held, which may be
 * before the one holding it has replaced the stale file and listens: until
 * then a client is refused, or finds no file at all.  So the test waits
 * for a socket listening on the path before it asks the one left to
 * answer. */
static void
test_start_race (void)
{
  const char *rabcd = g_getenv ("RABCD");
  g_autofree char *path = g_build_filename (tmpdir, "race.sock", NULL);

  for (guint trial = 0; trial < RACE_TRIALS; trial++)
    {
      GSubprocess *daemons[RACE_DAEMONS];
      guint n_exited = 0, serving = 0;
      gint64 deadline;

      make_stale_socket (path);

      /* Each waits for a line on its standard input before it execs, and
       * they all get theirs at once. */
      for (guint i = 0; i < RACE_DAEMONS; i++)
        {
          g_autoptr(GError) error = NULL;

          g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                       G_SUBPROCESS_FLAGS_STDERR_PIPE);

          /* A failed assertion kills this process: the daemons go too. */
          g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
          daemons[i] = g_subprocess_launcher_spawn (launcher, &error,
                                                    "sh", "-c",
                                                    "read go && exec \"$0\" --socket \"$1\"",
                                                    rabcd, path, NULL);
          g_assert_no_error (error);
          g_subprocess_wait_async (daemons[i], NULL, on_exited, &n_exited);
        }
      for (guint i = 0; i < RACE_DAEMONS; i++)
        g_assert_true (g_output_stream_write_all (g_subprocess_get_stdin_pipe (daemons[i]),
                                                  "\n", 1, NULL, NULL, NULL));

      deadline = g_get_monotonic_time () + SETTLE_TIMEOUT_MS * 1000;
      while (n_exited < RACE_DAEMONS - 1 && g_get_monotonic_time () < deadline)
        g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
      if (n_exited != RACE_DAEMONS - 1)
        g_error ("trial %u: %u of %d daemons exited, expected %d", trial, n_exited,
                 RACE_DAEMONS, RACE_DAEMONS - 1);
      while (!socket_listens (path) && g_get_monotonic_time () < deadline)
        g_usleep (1000);
      if (!socket_listens (path))
        g_error ("trial %u: no daemon listens on %s %d ms after they were started", trial,
                 path, SETTLE_TIMEOUT_MS);

      for (guint i = 0; i < RACE_DAEMONS; i++)
        {
          /* Still running: it has an identifier. */
          if (g_subprocess_get_identifier (daemons[i]) != NULL)
            {
              g_autoptr(RabcClient) client = NULL;
              g_autoptr(GError) error = NULL;
              g_autofree char *reply = NULL;

              serving++;
              client = rabc_client_new_sync (path, NULL, &error);
              g_assert_no_error (error);
              reply = rabc_client_send_sync (client, "ping", NULL, &error);
              g_assert_no_error (error);
              g_assert_cmpstr (reply, ==, "pong");
              g_subprocess_send_signal (daemons[i], SIGTERM);
            }
          else
            {
              g_autoptr(GDataInputStream) err =
                g_data_input_stream_new (g_subprocess_get_stderr_pipe (daemons[i]));
              g_autofree char *message = g_data_input_stream_read_line_utf8 (err, NULL, NULL, NULL);

              g_assert_true (g_subprocess_get_if_exited (daemons[i]));
              g_assert_cmpint (g_subprocess_get_exit_status (daemons[i]), ==, 1);
              if (message == NULL || strstr (message, "already listening on") == NULL)
                g_error ("trial %u: a daemon that did not serve said: %s", trial,
                         message != NULL ? message : "nothing");
            }
        }
      if (serving != 1)
        g_error ("trial %u: %u of %d daemons started at once are serving", trial, serving,
                 RACE_DAEMONS);

      while (n_exited < RACE_DAEMONS)
        g_main_context_iteration (NULL, TRUE);
      for (guint i = 0; i < RACE_DAEMONS; i++)
        g_object_unref (daemons[i]);
      g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
    }
  g_test_message ("%d trials of %d daemons started at once on a stale socket: one served "
                  "each time", RACE_TRIALS, RACE_DAEMONS);
}

/* --- 10. another user's daemon on the path ------------------------------- */

/* A user binds the path first, as anyone can in /tmp: root's rabcd refuses
 * to start there, and root's clients refuse to talk to that daemon unless
 * told to trust its user. */
static void
test_squatter (void)
{
  const TestUser *squatter = require_user (HOSTILE_USER);
  g_autofree char *shared = g_build_filename (tmpdir, "shared", NULL);
  const char *args[] = { "--mode", "0666", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *uid_arg = NULL;
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;
  Daemon *impostor;
  int status;

  if (squatter == NULL)
    return;

  /* A directory like /tmp: everybody writes, nobody removes another's. */
  g_assert_cmpint (g_mkdir (shared, 0700), ==, 0);
  g_assert_cmpint (chmod (shared, 01777), ==, 0);
  daemon_set_directory (shared);
  impostor = daemon_start_full (&(DaemonOptions) { .name = "librabc", .args = args,
                                                   .user = squatter });
  daemon_set_directory (tmpdir);

  /* Root's daemon does not start. */
  {
    const char *argv[] = { g_getenv ("RABCD"), "--socket", impostor->socket_path, NULL };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                 &out, &err, &status, &error));
    g_assert_no_error (error);
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 1);
    g_assert_nonnull (strstr (err, "already listening on"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }

  /* Root's client does not talk to it, with a clear error... */
  client = rabc_client_new_sync (impostor->socket_path, NULL, &error);
  g_assert_null (client);
  g_assert_error (error, RABC_ERROR, RABC_ERROR_UNTRUSTED_SERVER);
  {
    g_autofree char *expected = g_strdup_printf ("runs as uid %u", (guint) squatter->uid);

    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, expected));
  }
  g_clear_error (&error);

  /* ...nor does rabcc... */
  {
    const char *argv[] = { g_getenv ("RABCC"), "--socket", impostor->socket_path,
                           "--count", "1", "--interval", "10", NULL };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                 &out, &err, &status, &error));
    g_assert_cmpint (WEXITSTATUS (status), ==, 1);
    g_assert_nonnull (strstr (err, "refusing to talk to it"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }

  /* ...unless told that user is the right one, or that anybody is. */
  client = g_initable_new (RABC_TYPE_CLIENT, NULL, &error,
                           "socket-path", impostor->socket_path,
                           "server-uid", (guint) squatter->uid,
                           NULL);
  g_assert_no_error (error);
  reply = rabc_client_send_sync (client, "ping", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (reply, ==, "pong");
  g_clear_object (&client);

  uid_arg = g_strdup_printf ("%u", (guint) squatter->uid);
  for (guint i = 0; i < 2; i++)
    {
      const char *argv[] = { g_getenv ("RABCC"), "--socket", impostor->socket_path,
                             "--count", "1", "--interval", "10",
                             "--server-uid", i == 0 ? uid_arg : "any", NULL };

      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                   &out, &err, &status, &error));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
      g_assert_cmpstr (out, ==, "pong\n");
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
    }

  daemon_stop (impostor);
  daemon_free (impostor);
  g_rmdir (shared);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  test_process_setup ();

  /* Other users must reach the daemons' sockets. */
  tmpdir = rabc_test_make_tmpdir ();
  g_assert_cmpint (chmod (tmpdir, 0755), ==, 0);
  daemon_set_directory (tmpdir);

  g_test_add_func ("/rabc/limits/unread-replies", test_unread_replies);
  g_test_add_func ("/rabc/limits/memory-budget", test_memory_budget);
  g_test_add_func ("/rabc/limits/kept-buffers-first", test_kept_buffers_first);
  g_test_add_func ("/rabc/limits/bare-headers", test_bare_headers);
  g_test_add_func ("/rabc/limits/out-of-memory", test_out_of_memory);
  g_test_add_func ("/rabc/limits/frame-timeout", test_frame_timeout);
  g_test_add_func ("/rabc/limits/connections", test_connection_limits);
  g_test_add_func ("/rabc/limits/descriptor-limit", test_descriptor_limit);
  g_test_add_func ("/rabc/limits/log-flood", test_log_flood);
  g_test_add_func ("/rabc/limits/start-race", test_start_race);
  g_test_add_func ("/rabc/limits/squatter", test_squatter);

  ret = g_test_run ();

  rabc_test_remove_tmpdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
