/* test-daemon-bad-input.c: a real rabcd against misbehaving and numerous
 * clients
 *
 * Every scenario talks to rabcd as a separate process through raw sockets,
 * then checks from the outside that the daemon still answers a well-behaved
 * client, that its open descriptors (/proc/PID/fd) are back to their
 * baseline, and that its resident memory (/proc/PID/status) did not grow.
 * Scenarios that repeat run once as a warm-up before the measurement, so
 * that the heap has reached its working size and any growth is a leak.
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
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "rabc-test-util.h"

#define HEADER_SIZE 8
#define MAX_MESSAGE_SIZE ((guint64) 1048576)
/* The daemon closes asynchronously: how long its descriptors may take to
 * come back to the baseline. */
#define SETTLE_TIMEOUT_MS 5000
/* Deadlines that only exist so that a broken daemon fails the test instead
 * of hanging it. */
#define CLOSE_TIMEOUT_MS 5000
#define IO_TIMEOUT_S 10

/* Resident memory a repeated scenario may gain after its warm-up.  A page
 * or two of noise is normal; the bounds are chosen per scenario below so
 * that leaking one small structure per connection exceeds them. */
#define RSS_NOISE_KIB 128

static char *tmpdir;

/* --- the daemon, seen from outside ------------------------------------- */

typedef struct {
  GSubprocess *process;
  char        *socket_path;
  char        *log_path;
  pid_t        pid;
  guint        fd_baseline;
} Daemon;

static Daemon *main_daemon;
/* What the main daemon's log must mention at the end. */
static gboolean broke_protocol;
static gboolean flooded;

static guint
count_fds (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (path, 0, &error);
  guint n = 0;

  g_assert_no_error (error);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static char *
read_proc (pid_t       pid,
           const char *name)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/%s", (int) pid, name);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* A "Name:   1234 kB" line of /proc/PID/status, in KiB. */
static guint64
read_status_kib (pid_t       pid,
                 const char *field)
{
  g_autofree char *status = read_proc (pid, "status");
  const char *line = strstr (status, field);

  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (field), NULL, 10);
}

static guint64
read_rss_kib (pid_t pid)
{
  return read_status_kib (pid, "VmRSS:");
}

/* Resets VmHWM to the current VmRSS (proc(5), clear_refs "5"), so that the
 * peak of the next scenario alone can be read.  Returns FALSE where that
 * is not allowed: the caller then samples VmRSS at the worst moment. */
static gboolean
reset_peak_rss (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/clear_refs", (int) pid);
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents_full (path, "5", 1, G_FILE_SET_CONTENTS_NONE, 0644, &error))
    {
      g_test_message ("cannot reset the peak resident size: %s", error->message);
      return FALSE;
    }
  return TRUE;
}

/* Fields 14 and 15 of /proc/PID/stat: user and system time, in clock ticks.
 * They follow the command name, which may hold spaces, so count from its
 * closing parenthesis; the state is the field right after it. */
static guint64
read_cpu_ticks (pid_t  pid,
                char  *state)
{
  g_autofree char *stat = read_proc (pid, "stat");
  g_auto(GStrv) fields = NULL;
  const char *rest = strrchr (stat, ')');

  g_assert_nonnull (rest);
  fields = g_strsplit (rest + 2, " ", 0);
  g_assert_cmpuint (g_strv_length (fields), >, 13);
  if (state != NULL)
    *state = fields[0][0];
  /* fields[0] is field 3, so field N is fields[N - 3]. */
  return g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10);
}

static void
assert_running (Daemon *daemon)
{
  char state = '?';

  read_cpu_ticks (daemon->pid, &state);
  if (state == 'Z' || state == 'X')
    g_error ("rabcd (pid %d) is no longer running: state %c", (int) daemon->pid, state);
}

/* Waits until the daemon holds @expected descriptors; returns the last
 * count, which the caller compares. */
static guint
wait_for_fd_count (Daemon *daemon,
                   guint   expected)
{
  gint64 deadline = g_get_monotonic_time () + SETTLE_TIMEOUT_MS * 1000;
  guint n;

  while ((n = count_fds (daemon->pid)) != expected && g_get_monotonic_time () < deadline)
    g_usleep (5 * 1000);
  return n;
}

/* Waits until the descriptor count has not changed for 300 ms. */
static guint
wait_for_stable_fd_count (Daemon *daemon)
{
  gint64 deadline = g_get_monotonic_time () + SETTLE_TIMEOUT_MS * 1000;
  gint64 stable_since = g_get_monotonic_time ();
  guint n = count_fds (daemon->pid);

  while (g_get_monotonic_time () - stable_since < 300 * 1000)
    {
      guint now;

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10 * 1000);
      now = count_fds (daemon->pid);
      if (now != n)
        {
          n = now;
          stable_since = g_get_monotonic_time ();
        }
    }
  return n;
}

/* A well-behaved client: the library's own, request and reply. */
static void
assert_daemon_answers (Daemon *daemon)
{
  g_autoptr(RabcClient) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;

  client = rabc_client_new_sync (daemon->socket_path, NULL, &error);
  g_assert_no_error (error);
  rabc_client_set_timeout (client, IO_TIMEOUT_S * 1000);
  reply = rabc_client_send_sync (client, "ping", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (reply, ==, "pong");
  rabc_client_close (client);
}

typedef struct {
  rlim_t nofile;
} ChildSetup;

/* Runs in the forked child, before exec: async-signal-safe calls only. */
static void
daemon_child_setup (gpointer user_data)
{
  ChildSetup *setup = user_data;

  /* A failed assertion kills this process: the daemon must not outlive it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);

  /* Both limits: rabcd raises its soft limit to the hard one. */
  if (setup->nofile > 0)
    {
      struct rlimit limit = { .rlim_cur = setup->nofile, .rlim_max = setup->nofile };

      setrlimit (RLIMIT_NOFILE, &limit);
    }
}

/* Starts rabcd on @name in the temporary directory.  Its stderr goes to a
 * file: a pipe nobody reads would block the daemon once full, and the file
 * is checked at the end.  @nofile, when not 0, becomes its descriptor
 * limit. */
static Daemon *
daemon_start (const char *name,
              rlim_t      nofile)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  ChildSetup setup = { .nofile = nofile };
  g_autofree char *log_name = g_strconcat (name, ".log", NULL);
  const char *rabcd = g_getenv ("RABCD");
  Daemon *daemon = g_new0 (Daemon, 1);
  guint i;

  g_assert_nonnull (rabcd);
  daemon->socket_path = g_build_filename (tmpdir, name, NULL);
  daemon->log_path = g_build_filename (tmpdir, log_name, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  /* meson test sets MALLOC_PERTURB_, which makes malloc write every block it
   * hands out: a buffer sized for a frame that never arrives would then be
   * resident in full.  The daemon's memory is measured as it runs in
   * production. */
  g_subprocess_launcher_unsetenv (launcher, "MALLOC_PERTURB_");
  g_subprocess_launcher_set_stderr_file_path (launcher, daemon->log_path);
  g_subprocess_launcher_set_child_setup (launcher, daemon_child_setup, &setup, NULL);
  daemon->process = g_subprocess_launcher_spawn (launcher, &error, rabcd,
                                                 "--socket", daemon->socket_path, NULL);
  g_assert_no_error (error);
  daemon->pid = atoi (g_subprocess_get_identifier (daemon->process));

  /* The baseline is taken before any client connects, so that a client
   * left open by the daemon can never hide in it. */
  for (i = 0; i < 1000 && !g_file_test (daemon->socket_path, G_FILE_TEST_EXISTS); i++)
    g_usleep (10 * 1000);
  g_assert_cmpuint (i, <, 1000);
  daemon->fd_baseline = wait_for_stable_fd_count (daemon);

  assert_daemon_answers (daemon);
  g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline), ==, daemon->fd_baseline);
  g_test_message ("rabcd %s: pid %d, %u descriptors at rest, VmRSS %" G_GUINT64_FORMAT " KiB",
                  name, (int) daemon->pid, daemon->fd_baseline, read_rss_kib (daemon->pid));
  return daemon;
}

static void
on_daemon_exited (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error);
  g_assert_no_error (error);
  *done = TRUE;
}

static void
daemon_free (Daemon *daemon)
{
  g_clear_object (&daemon->process);
  g_free (daemon->socket_path);
  g_free (daemon->log_path);
  g_free (daemon);
}

/* Stops the daemon with SIGTERM, as a service manager would: it must exit
 * with status 0 and remove its socket file. */
static void
daemon_stop (Daemon *daemon)
{
  gboolean done = FALSE;

  g_subprocess_send_signal (daemon->process, SIGTERM);
  g_subprocess_wait_async (daemon->process, NULL, on_daemon_exited, &done);
  rabc_test_wait_for (&done, 20000);

  g_assert_true (g_subprocess_get_if_exited (daemon->process));
  g_assert_cmpint (g_subprocess_get_exit_status (daemon->process), ==, 0);
  g_assert_false (g_file_test (daemon->socket_path, G_FILE_TEST_EXISTS));
}

static char *
daemon_read_log (Daemon *daemon)
{
  g_autoptr(GError) error = NULL;
  char *log = NULL;

  g_file_get_contents (daemon->log_path, &log, NULL, &error);
  g_assert_no_error (error);
  return log;
}

/* The log holds only the expected one-line messages: no warning, no
 * critical, no crash report. */
static void
assert_log_clean (const char *log)
{
  if (strstr (log, "WARNING **") != NULL || strstr (log, "CRITICAL **") != NULL ||
      strstr (log, "ERROR **") != NULL)
    g_error ("rabcd logged a warning or worse:\n%s", log);
}

static Daemon *
get_main_daemon (void)
{
  if (main_daemon == NULL)
    main_daemon = daemon_start ("rabc.sock", 0);
  return main_daemon;
}

/* --- one scenario: before and after ------------------------------------ */

typedef struct {
  const char *name;
  guint       fds_before;
  guint64     rss_before;
} Measure;

static void
measure_begin (Daemon     *daemon,
               Measure    *measure,
               const char *name)
{
  measure->name = name;
  measure->fds_before = wait_for_fd_count (daemon, daemon->fd_baseline);
  g_assert_cmpuint (measure->fds_before, ==, daemon->fd_baseline);
  measure->rss_before = read_rss_kib (daemon->pid);
}

/* The checks every scenario ends with: a well-behaved client is answered,
 * the descriptors come back to the baseline, and resident memory grew by
 * at most @rss_bound_kib. */
static void
measure_end (Daemon  *daemon,
             Measure *measure,
             guint64  rss_bound_kib)
{
  guint fds_after;
  guint64 rss_after;
  gint64 growth;

  assert_running (daemon);
  assert_daemon_answers (daemon);
  fds_after = wait_for_fd_count (daemon, daemon->fd_baseline);
  rss_after = read_rss_kib (daemon->pid);
  growth = (gint64) rss_after - (gint64) measure->rss_before;

  g_test_message ("%s: descriptors %u at baseline, %u after; "
                  "VmRSS %" G_GUINT64_FORMAT " KiB before, %" G_GUINT64_FORMAT " KiB after "
                  "(%+" G_GINT64_FORMAT " KiB, bound %" G_GUINT64_FORMAT " KiB)",
                  measure->name, daemon->fd_baseline, fds_after,
                  measure->rss_before, rss_after, growth, rss_bound_kib);

  g_assert_cmpuint (fds_after, ==, daemon->fd_baseline);
  g_assert_cmpint (growth, <=, (gint64) rss_bound_kib);
}

/* --- raw sockets -------------------------------------------------------- */

static void
fill_address (struct sockaddr_un *addr,
              const char         *path)
{
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  g_assert_cmpuint (strlen (path), <, sizeof addr->sun_path);
  strcpy (addr->sun_path, path);
}

/* A blocking connection whose reads and writes give up after
 * IO_TIMEOUT_S, so that a daemon that stops answering fails the test. */
static int
connect_raw (Daemon *daemon)
{
  struct timeval timeout = { .tv_sec = IO_TIMEOUT_S };
  int fd = rabc_test_connect_raw (daemon->socket_path);

  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), ==, 0);
  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout), ==, 0);
  return fd;
}

static void
write_header (int     fd,
              guint64 len)
{
  rabc_test_write_all (fd, &len, sizeof len);
}

/* The first @n bytes of the header of a frame of @len bytes. */
static void
write_partial_header (int     fd,
                      guint64 len,
                      gsize   n)
{
  g_assert_cmpuint (n, <, HEADER_SIZE);
  rabc_test_write_all (fd, &len, n);
}

/* The 12 bytes of a four-letter frame such as "ping" or "pong", with the
 * length in host byte order as on the wire. */
static void
encode_short_frame (guint8     *out,
                    const char *text)
{
  guint64 len = 4;

  g_assert_cmpuint (strlen (text), ==, 4);
  memcpy (out, &len, HEADER_SIZE);
  memcpy (out + HEADER_SIZE, text, 4);
}

static void
assert_pong (int fd)
{
  g_autofree char *reply = rabc_test_read_frame (fd);

  g_assert_cmpstr (reply, ==, "pong");
}

/* Reads until the daemon closes the connection.  Returns the number of
 * bytes it sent first, and checks that they are whole "pong" frames;
 * fails if it does not close within CLOSE_TIMEOUT_MS. */
static gsize
read_until_closed (int fd)
{
  guint8 pong[HEADER_SIZE + 4];
  gint64 deadline = g_get_monotonic_time () + CLOSE_TIMEOUT_MS * 1000;
  gsize total = 0;

  encode_short_frame (pong, "pong");
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 remaining = deadline - g_get_monotonic_time ();
      char buffer[4096];
      ssize_t n;

      if (remaining <= 0)
        g_error ("the daemon did not close the connection within %d ms", CLOSE_TIMEOUT_MS);
      if (poll (&pfd, 1, (int) (remaining / 1000) + 1) <= 0)
        continue;
      n = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0)
        {
          for (ssize_t i = 0; i < n; i++)
            if ((guint8) buffer[i] != pong[(total + i) % sizeof pong])
              g_error ("byte %" G_GSIZE_FORMAT " of the replies is not part of a \"pong\"",
                       total + i);
          total += n;
        }
      else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        return total;   /* end of stream, or ECONNRESET: closed either way */
    }
}

/* The daemon must refuse what was sent: close the connection, without a
 * reply. */
static void
assert_closed_without_reply (int fd)
{
  g_assert_cmpuint (read_until_closed (fd), ==, 0);
}

/* --- 1. garbage ---------------------------------------------------------- */

#define GARBAGE_SIZE (64 * 1024)

/* Three kinds of 64 KiB of random bytes, by @round modulo 3: pure noise
 * (whose first eight bytes are a huge length), a small length followed by
 * noise that is not UTF-8, and a length larger than what follows, after
 * which the client hangs up. */
static void
garbage_round (Daemon *daemon,
               guint   round)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x5eed0000 + round);
  g_autofree guint8 *garbage = g_malloc (GARBAGE_SIZE);
  guint64 header;
  int fd;

  for (gsize i = 0; i < GARBAGE_SIZE; i += 4)
    {
      guint32 word = g_rand_int (rand);
      memcpy (garbage + i, &word, sizeof word);
    }

  switch (round % 3)
    {
    case 0:
      memcpy (&header, garbage, sizeof header);
      g_assert_cmpuint (header, >=, MAX_MESSAGE_SIZE);
      break;
    case 1:
      header = g_rand_int_range (rand, 1024, GARBAGE_SIZE - HEADER_SIZE);
      memcpy (garbage, &header, sizeof header);
      garbage[HEADER_SIZE] = 0xff;   /* never valid in UTF-8 */
      break;
    default:
      header = g_rand_int_range (rand, GARBAGE_SIZE, MAX_MESSAGE_SIZE);
      memcpy (garbage, &header, sizeof header);
      break;
    }

  fd = connect_raw (daemon);
  rabc_test_write_all (fd, garbage, GARBAGE_SIZE);
  if (round % 3 != 2)
    assert_closed_without_reply (fd);
  close (fd);
}

static void
test_garbage (void)
{
  Daemon *daemon = get_main_daemon ();
  Measure measure;

  broke_protocol = TRUE;

  for (guint round = 0; round < 3; round++)
    garbage_round (daemon, round);

  measure_begin (daemon, &measure, "garbage (90 x 64 KiB of random bytes)");
  for (guint round = 3; round < 93; round++)
    garbage_round (daemon, round);
  /* Thirty frames left half-received: leaking their payload buffers, of
   * which 64 KiB each were written, would exceed the bound. */
  measure_end (daemon, &measure, 1024);
}

/* --- 2. huge length headers --------------------------------------------- */

static void
huge_header_round (Daemon *daemon)
{
  /* 2^32 + 4 followed by "ping": a length cut to 32 bits would read it as
   * a valid "ping" and answer. */
  const guint64 headers[] = { G_GUINT64_CONSTANT (1) << 63, G_MAXUINT64,
                              (G_GUINT64_CONSTANT (1) << 32) + 4 };

  for (gsize i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      int fd = connect_raw (daemon);

      write_header (fd, headers[i]);
      rabc_test_write_all (fd, "ping", 4);
      assert_closed_without_reply (fd);
      close (fd);
    }
}

static void
test_huge_header (void)
{
  Daemon *daemon = get_main_daemon ();
  Measure measure;

  broke_protocol = TRUE;

  huge_header_round (daemon);
  measure_begin (daemon, &measure, "length 2^63, 2^64-1, 2^32+4 (6000 connections)");
  for (guint i = 0; i < 2000; i++)
    huge_header_round (daemon);
  /* A structure of 32 bytes left behind per connection exceeds it. */
  measure_end (daemon, &measure, RSS_NOISE_KIB);
}

/* --- 3. a length of exactly 1 MiB --------------------------------------- */

static void
exact_limit_round (Daemon      *daemon,
                   const char  *payload)
{
  int fd = connect_raw (daemon);

  /* The whole payload: a daemon that accepted the length would answer. */
  write_header (fd, MAX_MESSAGE_SIZE);
  rabc_test_write_all (fd, payload, MAX_MESSAGE_SIZE);
  assert_closed_without_reply (fd);
  close (fd);
}

static void
test_length_at_limit (void)
{
  Daemon *daemon = get_main_daemon ();
  g_autofree char *payload = g_malloc (MAX_MESSAGE_SIZE);
  Measure measure;

  broke_protocol = TRUE;

  memset (payload, 'a', MAX_MESSAGE_SIZE);
  exact_limit_round (daemon, payload);
  measure_begin (daemon, &measure, "length 1 MiB, refused (20 connections)");
  for (guint i = 0; i < 20; i++)
    exact_limit_round (daemon, payload);
  measure_end (daemon, &measure, 1024);
}

/* --- 4. a length of 1 MiB - 1 ------------------------------------------- */

static void
below_limit_round (Daemon     *daemon,
                   const char *payload)
{
  int fd = connect_raw (daemon);

  rabc_test_write_frame (fd, payload, MAX_MESSAGE_SIZE - 1);
  assert_pong (fd);
  /* The connection is still in order after the largest message. */
  rabc_test_write_frame (fd, "ping", 4);
  assert_pong (fd);
  close (fd);
}

static void
test_length_below_limit (void)
{
  Daemon *daemon = get_main_daemon ();
  gsize len = MAX_MESSAGE_SIZE - 1;
  g_autofree char *ascii = g_malloc (len);
  g_autofree char *euros = g_malloc (len);
  Measure measure;

  /* 1048575 = 3 x 349525: euro signs fill it exactly, and the 64 KiB reads
   * of the daemon cut through them. */
  memset (ascii, 'a', len);
  for (gsize i = 0; i < len; i += 3)
    memcpy (euros + i, "\xe2\x82\xac", 3);
  g_assert_true (g_utf8_validate_len (euros, len, NULL));

  below_limit_round (daemon, ascii);
  below_limit_round (daemon, euros);
  measure_begin (daemon, &measure, "length 1 MiB - 1, answered (20 connections)");
  for (guint i = 0; i < 20; i++)
    below_limit_round (daemon, i % 2 ? euros : ascii);
  /* A leaked 1 MiB payload buffer per message would be 20 MiB. */
  measure_end (daemon, &measure, 2048);
}

/* --- 5. truncated frames ------------------------------------------------ */

#define TRUNCATED_LARGE (512 * 1024)

static void
truncated_round (Daemon     *daemon,
                 const char *filler)
{
  int fd;

  /* Three bytes of a header, then hang up. */
  fd = connect_raw (daemon);
  write_partial_header (fd, 4, 3);
  close (fd);

  /* A header of 100 and 50 bytes, then hang up. */
  fd = connect_raw (daemon);
  write_header (fd, 100);
  rabc_test_write_all (fd, filler, 50);
  close (fd);

  /* Half of a 512 KiB message, then hang up: the daemon holds a buffer
   * for the whole message until then. */
  fd = connect_raw (daemon);
  write_header (fd, TRUNCATED_LARGE);
  rabc_test_write_all (fd, filler, TRUNCATED_LARGE / 2);
  close (fd);

  /* Half a message, then only the writing half is shut: the daemon must
   * see the end of the stream in the middle of the message and close. */
  fd = connect_raw (daemon);
  write_header (fd, 100);
  rabc_test_write_all (fd, filler, 50);
  g_assert_cmpint (shutdown (fd, SHUT_WR), ==, 0);
  assert_closed_without_reply (fd);
  close (fd);
}

static void
test_truncated_frame (void)
{
  Daemon *daemon = get_main_daemon ();
  g_autofree char *filler = g_malloc (TRUNCATED_LARGE);
  Measure measure;

  memset (filler, 'a', TRUNCATED_LARGE);
  truncated_round (daemon, filler);
  measure_begin (daemon, &measure, "truncated frames, then hang-up (400 connections)");
  for (guint i = 0; i < 100; i++)
    truncated_round (daemon, filler);
  /* Leaking the 512 KiB buffers, half written, would be 25 MiB. */
  measure_end (daemon, &measure, 1024);
}

/* --- 6. invalid UTF-8 ---------------------------------------------------- */

static void
invalid_utf8_round (Daemon *daemon)
{
  static const char * const payloads[] = {
    "\xff",
    "\x80",
    "\xc0\x80",            /* overlong NUL */
    "\xed\xa0\x80",        /* UTF-16 surrogate */
    "\xf4\x90\x80\x80",    /* above U+10FFFF */
    "ping\xe2\x82",        /* cut in the middle of a character */
  };
  g_autofree char *long_payload = g_malloc (100 * 1024);
  int fd;

  for (gsize i = 0; i < G_N_ELEMENTS (payloads); i++)
    {
      fd = connect_raw (daemon);
      rabc_test_write_frame (fd, payloads[i], strlen (payloads[i]));
      assert_closed_without_reply (fd);
      close (fd);
    }

  /* Longer than one read of the daemon, so that it is collected before it
   * is checked, and the bad byte comes last. */
  memset (long_payload, 'a', 100 * 1024);
  long_payload[100 * 1024 - 1] = '\xff';
  fd = connect_raw (daemon);
  rabc_test_write_frame (fd, long_payload, 100 * 1024);
  assert_closed_without_reply (fd);
  close (fd);
}

static void
test_invalid_utf8 (void)
{
  Daemon *daemon = get_main_daemon ();
  Measure measure;

  broke_protocol = TRUE;

  invalid_utf8_round (daemon);
  measure_begin (daemon, &measure, "invalid UTF-8 (3500 connections)");
  for (guint i = 0; i < 500; i++)
    invalid_utf8_round (daemon);
  measure_end (daemon, &measure, RSS_NOISE_KIB);
}

/* --- 6b. a valid message just before a violation ---------------------- */

/* The daemon answers every message it receives, so a valid "ping" that
 * precedes a violation is answered before the connection is closed.  Sent
 * in two writes, the ping's reply goes out before the bad frame is read;
 * sent in one write, both frames arrive in one read, and the reply must
 * not depend on that. */
static void
test_reply_before_violation (void)
{
  const struct {
    const char *name;
    guint64     len;
    const char *payload;
  } bad[] = {
    { "invalid UTF-8", 1, "\xfe" },
    { "a length of 1 MiB", MAX_MESSAGE_SIZE, "" },
    { "a length of 2^63", G_GUINT64_CONSTANT (1) << 63, "" },
  };
  Daemon *daemon = get_main_daemon ();
  g_autoptr(GString) lost = g_string_new (NULL);
  Measure measure;

  broke_protocol = TRUE;
  measure_begin (daemon, &measure, "a ping, then a violation (6 connections)");

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      guint8 frames[2 * HEADER_SIZE + 4 + 1];
      gsize payload_len = strlen (bad[i].payload);
      guint64 ping_len = 4;
      gsize received;
      int fd;

      memcpy (frames, &ping_len, HEADER_SIZE);
      memcpy (frames + HEADER_SIZE, "ping", 4);
      memcpy (frames + HEADER_SIZE + 4, &bad[i].len, HEADER_SIZE);
      memcpy (frames + 2 * HEADER_SIZE + 4, bad[i].payload, payload_len);

      fd = connect_raw (daemon);
      rabc_test_write_all (fd, frames, HEADER_SIZE + 4);
      assert_pong (fd);
      rabc_test_write_all (fd, frames + HEADER_SIZE + 4, HEADER_SIZE + payload_len);
      assert_closed_without_reply (fd);
      close (fd);

      fd = connect_raw (daemon);
      rabc_test_write_all (fd, frames, 2 * HEADER_SIZE + 4 + payload_len);
      received = read_until_closed (fd);
      close (fd);
      g_test_message ("\"ping\" then %s in one write: %" G_GSIZE_FORMAT " bytes of reply "
                      "before the daemon closed (expected %d)",
                      bad[i].name, received, HEADER_SIZE + 4);
      if (received != HEADER_SIZE + 4)
        g_string_append_printf (lost, "%s%s (%" G_GSIZE_FORMAT " bytes received)",
                                lost->len > 0 ? ", " : "", bad[i].name, received);
    }

  measure_end (daemon, &measure, RSS_NOISE_KIB);

  /* Not an assertion, so that the scenarios after this one still run and
   * report (with --keep-going, as meson passes). */
  if (lost->len > 0)
    g_test_fail_printf ("the reply to a valid \"ping\" is lost when a violation follows it "
                        "in the same read; expected the %d bytes of \"pong\", then the "
                        "close, after: %s", HEADER_SIZE + 4, lost->str);
}

/* --- 7. zero-length frames ---------------------------------------------- */

static void
empty_frame_round (Daemon *daemon)
{
  int fd = connect_raw (daemon);

  rabc_test_write_frame (fd, "", 0);
  assert_pong (fd);

  /* Three empty messages and a ping in one write: four replies. */
  {
    guint8 frames[4 * HEADER_SIZE + 4] = { 0 };
    guint64 ping_len = 4;

    memcpy (frames + 3 * HEADER_SIZE, &ping_len, HEADER_SIZE);
    memcpy (frames + 4 * HEADER_SIZE, "ping", 4);
    rabc_test_write_all (fd, frames, sizeof frames);
  }
  for (guint i = 0; i < 4; i++)
    assert_pong (fd);
  close (fd);
}

static void
test_empty_frame (void)
{
  Daemon *daemon = get_main_daemon ();
  Measure measure;

  empty_frame_round (daemon);
  measure_begin (daemon, &measure, "zero-length frames (3000 connections)");
  for (guint i = 0; i < 3000; i++)
    empty_frame_round (daemon);
  measure_end (daemon, &measure, RSS_NOISE_KIB);
}

/* --- 8. one byte at a time ---------------------------------------------- */

static void
write_slowly (int         fd,
              const char *text)
{
  guint64 len = strlen (text);
  const guint8 *header = (const guint8 *) &len;

  for (gsize i = 0; i < HEADER_SIZE; i++)
    {
      rabc_test_write_all (fd, header + i, 1);
      g_usleep (1000);
    }
  for (gsize i = 0; i < len; i++)
    {
      rabc_test_write_all (fd, text + i, 1);
      g_usleep (1000);
    }
}

static void
slow_round (Daemon *daemon)
{
  guint8 ping[HEADER_SIZE + 4];
  int fd = connect_raw (daemon);

  /* Part of a frame waits while another client is served. */
  encode_short_frame (ping, "ping");
  rabc_test_write_all (fd, ping, 3);
  assert_daemon_answers (daemon);
  rabc_test_write_all (fd, ping + 3, 7);
  assert_daemon_answers (daemon);
  rabc_test_write_all (fd, ping + 10, 2);
  assert_pong (fd);

  write_slowly (fd, "ping");
  assert_pong (fd);
  /* Multi-byte characters, cut between their bytes. */
  write_slowly (fd, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
  assert_pong (fd);
  write_slowly (fd, "");
  assert_pong (fd);
  close (fd);
}

static void
test_byte_at_a_time (void)
{
  Daemon *daemon = get_main_daemon ();
  Measure measure;

  slow_round (daemon);
  measure_begin (daemon, &measure, "one byte per write, 1 ms apart (5 connections)");
  for (guint i = 0; i < 5; i++)
    slow_round (daemon);
  measure_end (daemon, &measure, RSS_NOISE_KIB);
}

/* --- 9. a client that never reads --------------------------------------- */

/* What the test sends at most: far more than any reasonable cap, so that a
 * daemon that buffers without bound shows it in its memory. */
#define FLOOD_BOUND (64 * 1024 * 1024)
#define FLOOD_PEAK_BOUND_KIB (8 * 1024)

static void
test_never_reads (void)
{
  Daemon *daemon = get_main_daemon ();
  const gsize n_frames = 64 * 1024 / (HEADER_SIZE + 4);
  g_autofree guint8 *pings = g_malloc (n_frames * (HEADER_SIZE + 4));
  gsize chunk = n_frames * (HEADER_SIZE + 4);
  gsize sent = 0, offset = 0;
  gboolean closed_by_daemon = FALSE;
  gboolean served_others = FALSE;
  gboolean peak_known;
  int send_errno = 0;
  gint64 last_progress;
  guint64 peak;
  Measure measure;
  int fd;

  for (gsize i = 0; i < n_frames; i++)
    encode_short_frame (pings + i * (HEADER_SIZE + 4), "ping");

  flooded = TRUE;
  measure_begin (daemon, &measure, "client that never reads");
  peak_known = reset_peak_rss (daemon->pid);

  fd = connect_raw (daemon);
  g_assert_cmpint (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK), ==, 0);
  last_progress = g_get_monotonic_time ();

  while (sent < FLOOD_BOUND)
    {
      ssize_t n = send (fd, pings + offset, chunk - offset, MSG_NOSIGNAL);

      if (n > 0)
        {
          sent += n;
          offset = (offset + n) % chunk;
          last_progress = g_get_monotonic_time ();
          continue;
        }

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          struct pollfd pfd = { .fd = fd, .events = POLLOUT };

          /* The flooding client fills its socket: others are still
           * served meanwhile. */
          if (!served_others)
            {
              assert_daemon_answers (daemon);
              served_others = TRUE;
            }

          if (g_get_monotonic_time () - last_progress > CLOSE_TIMEOUT_MS * 1000)
            g_error ("the daemon stopped reading after %" G_GSIZE_FORMAT " bytes "
                     "but did not close the connection", sent);
          poll (&pfd, 1, 100);
          continue;
        }

      send_errno = n < 0 ? errno : 0;
      closed_by_daemon = send_errno == EPIPE || send_errno == ECONNRESET;
      break;
    }

  /* Measured before hanging up: a daemon that still holds the queue shows
   * it now. */
  peak = read_status_kib (daemon->pid, peak_known ? "VmHWM:" : "VmRSS:");
  close (fd);

  g_test_message ("client that never reads: %" G_GSIZE_FORMAT " bytes sent before the "
                  "daemon %s (%s); daemon's %s %" G_GUINT64_FORMAT " KiB, "
                  "%+" G_GINT64_FORMAT " KiB over %" G_GUINT64_FORMAT " KiB (bound %d KiB)",
                  sent, closed_by_daemon ? "closed the connection" : "still had it open",
                  send_errno != 0 ? g_strerror (send_errno) : "bound reached",
                  peak_known ? "peak VmRSS" : "VmRSS", peak,
                  (gint64) peak - (gint64) measure.rss_before, measure.rss_before,
                  FLOOD_PEAK_BOUND_KIB);

  g_assert_true (served_others);
  g_assert_true (closed_by_daemon);
  g_assert_cmpint ((gint64) peak - (gint64) measure.rss_before, <=, FLOOD_PEAK_BOUND_KIB);
  /* Afterwards, the queue it had built is given back. */
  measure_end (daemon, &measure, 2048);
}

/* --- 9b. requests, then the end of the stream --------------------------- */

/* A client may send all its requests, shut the writing half of its socket
 * (the usual "no more requests"), then read every reply.  Not reading
 * while it writes, it lets replies pile up in the daemon, but fewer than
 * the daemon's 1 MiB cap on queued output even if the kernel held none of
 * them: each of them must still arrive. */
static void
test_half_close (void)
{
  Daemon *daemon = get_main_daemon ();
  const gsize n_pings = (1024 * 1024 - 64 * 1024) / (HEADER_SIZE + 4);
  g_autofree guint8 *pings = g_malloc (n_pings * (HEADER_SIZE + 4));
  gsize received;
  Measure measure;
  int fd;

  for (gsize i = 0; i < n_pings; i++)
    encode_short_frame (pings + i * (HEADER_SIZE + 4), "ping");

  measure_begin (daemon, &measure, "requests, then the end of the stream");
  fd = connect_raw (daemon);
  rabc_test_write_all (fd, pings, n_pings * (HEADER_SIZE + 4));
  g_assert_cmpint (shutdown (fd, SHUT_WR), ==, 0);
  received = read_until_closed (fd);
  close (fd);

  g_test_message ("%" G_GSIZE_FORMAT " pings, then shutdown (SHUT_WR): %" G_GSIZE_FORMAT
                  " replies received before the daemon closed", n_pings,
                  received / (HEADER_SIZE + 4));
  measure_end (daemon, &measure, 2048);

  if (received != n_pings * (HEADER_SIZE + 4))
    g_test_fail_printf ("the daemon dropped %" G_GSIZE_FORMAT " of the %" G_GSIZE_FORMAT
                        " replies it owed a client that had shut its writing half",
                        n_pings - received / (HEADER_SIZE + 4), n_pings);
}

/* --- 10. connect and disconnect ----------------------------------------- */

static void
connect_cycles (Daemon *daemon,
                guint   n_cycles)
{
  for (guint i = 0; i < n_cycles; i++)
    {
      int fd = connect_raw (daemon);

      if (i % 5 == 0)
        {
          rabc_test_write_frame (fd, "ping", 4);
          assert_pong (fd);
        }
      else if (i % 7 == 0)
        {
          /* Gone before the reply can be written. */
          rabc_test_write_frame (fd, "ping", 4);
        }
      close (fd);
    }
}

static void
test_connect_disconnect (void)
{
  Daemon *daemon = get_main_daemon ();
  Measure measure;

  connect_cycles (daemon, 500);
  g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline), ==, daemon->fd_baseline);
  measure_begin (daemon, &measure, "5000 connect/disconnect cycles (1 in 5 with a ping)");
  connect_cycles (daemon, 5000);
  /* One structure of 64 bytes per connection left behind is 312 KiB. */
  measure_end (daemon, &measure, RSS_NOISE_KIB);
}

/* --- 11. clients killed in the middle of a frame ------------------------ */

#define KILLED_FRAME_LEN (512 * 1024)
#define KILLED_WRITTEN (128 * 1024)

/* A child that connects, writes part of a frame and dies of SIGKILL: half
 * of them in the header, half with 128 KiB of a 512 KiB message written,
 * which the daemon holds in a buffer until it sees the connection end. */
static pid_t
fork_dying_client (const struct sockaddr_un *addr,
                   const char               *filler,
                   guint                     i)
{
  pid_t pid = fork ();

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* The child: async-signal-safe calls only, since the parent has
       * threads. */
      guint64 len = KILLED_FRAME_LEN;
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

      if (fd < 0 || connect (fd, (const struct sockaddr *) addr, sizeof *addr) < 0)
        _exit (3);

      if (i % 2 == 0)
        {
          if (send (fd, &len, 3, MSG_NOSIGNAL) != 3)
            _exit (4);
        }
      else
        {
          gsize left = KILLED_WRITTEN;

          if (send (fd, &len, sizeof len, MSG_NOSIGNAL) != sizeof len)
            _exit (4);
          while (left > 0)
            {
              ssize_t n = send (fd, filler, left, MSG_NOSIGNAL);

              if (n <= 0)
                _exit (4);
              filler += n;
              left -= n;
            }
        }
      raise (SIGKILL);
      _exit (5);
    }
  return pid;
}

static void
killed_clients (Daemon *daemon,
                guint   n)
{
  struct sockaddr_un addr;
  g_autofree pid_t *pids = g_new (pid_t, n);
  g_autofree char *filler = g_malloc (KILLED_WRITTEN);

  memset (filler, 'a', KILLED_WRITTEN);
  fill_address (&addr, daemon->socket_path);
  for (guint i = 0; i < n; i++)
    pids[i] = fork_dying_client (&addr, filler, i);

  for (guint i = 0; i < n; i++)
    {
      int status;
      pid_t got;

      do
        got = waitpid (pids[i], &status, 0);
      while (got < 0 && errno == EINTR);
      g_assert_cmpint (got, ==, pids[i]);
      if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
        g_error ("client process %d did not die of SIGKILL mid-frame: status 0x%x",
                 (int) pids[i], status);
    }
}

static void
test_killed_clients (void)
{
  Daemon *daemon = get_main_daemon ();
  Measure measure;

  killed_clients (daemon, 10);
  g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline), ==, daemon->fd_baseline);
  measure_begin (daemon, &measure, "100 clients killed by SIGKILL mid-frame");
  killed_clients (daemon, 100);
  /* Leaking the buffers of the 50 partial messages would be 6 MiB. */
  measure_end (daemon, &measure, 1024);
}

/* --- 12. out of descriptors --------------------------------------------- */

#define LIMITED_NOFILE 64
#define LIMITED_EXCESS 16
#define CPU_SPIN_BOUND_S 0.3

typedef struct {
  int   fd;
  gsize received;
} Pending;

/* Reads whatever replies are ready; returns how many connections have
 * their whole "pong" now. */
static guint
collect_replies (Pending *conns,
                 guint    n,
                 int      timeout_ms)
{
  g_autofree struct pollfd *pfds = g_new0 (struct pollfd, n);
  guint complete = 0;

  for (guint i = 0; i < n; i++)
    {
      pfds[i].fd = conns[i].fd >= 0 && conns[i].received < HEADER_SIZE + 4 ? conns[i].fd : -1;
      pfds[i].events = POLLIN;
    }

  if (poll (pfds, n, timeout_ms) > 0)
    {
      for (guint i = 0; i < n; i++)
        {
          char buffer[64];
          ssize_t got;

          if (pfds[i].revents == 0)
            continue;
          got = recv (conns[i].fd, buffer, sizeof buffer, MSG_DONTWAIT);
          if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
            g_error ("the daemon closed connection %u before answering", i);
          if (got > 0)
            conns[i].received += got;
          g_assert_cmpuint (conns[i].received, <=, HEADER_SIZE + 4);
        }
    }

  for (guint i = 0; i < n; i++)
    if (conns[i].received == HEADER_SIZE + 4)
      complete++;
  return complete;
}

static void
test_descriptor_exhaustion (void)
{
  g_autofree char *log = NULL;
  g_autofree Pending *conns = NULL;
  Daemon *daemon = daemon_start ("rabc-limited.sock", LIMITED_NOFILE);
  guint capacity, n_conns, answered, fds_full;
  guint64 ticks_before, ticks_after;
  struct rlimit limit;
  double cpu_s;
  gint64 deadline;
  Measure measure;

  /* The limit did reach the daemon, hard limit included. */
  g_assert_cmpint (prlimit (daemon->pid, RLIMIT_NOFILE, NULL, &limit), ==, 0);
  g_assert_cmpuint (limit.rlim_cur, ==, LIMITED_NOFILE);
  g_assert_cmpuint (limit.rlim_max, ==, LIMITED_NOFILE);

  measure_begin (daemon, &measure, "out of descriptors (limit 64)");
  capacity = LIMITED_NOFILE - daemon->fd_baseline;
  n_conns = capacity + LIMITED_EXCESS;
  conns = g_new0 (Pending, n_conns);

  /* Every connection lands in the backlog and sends its ping at once; the
   * daemon can accept only @capacity of them. */
  for (guint i = 0; i < n_conns; i++)
    {
      conns[i].fd = connect_raw (daemon);
      rabc_test_write_frame (conns[i].fd, "ping", 4);
    }

  deadline = g_get_monotonic_time () + IO_TIMEOUT_S * G_USEC_PER_SEC;
  do
    answered = collect_replies (conns, n_conns, 100);
  while (answered < capacity && g_get_monotonic_time () < deadline);
  /* A moment more, for any answer beyond what the limit allows. */
  answered = collect_replies (conns, n_conns, 300);
  fds_full = count_fds (daemon->pid);
  g_test_message ("out of descriptors: %u connections, %u answered, %u waiting; "
                  "daemon holds %u descriptors", n_conns, answered, n_conns - answered, fds_full);
  g_assert_cmpuint (answered, ==, capacity);
  g_assert_cmpuint (fds_full, ==, LIMITED_NOFILE);

  /* The waiting clients keep the listening socket readable: the daemon
   * must not spin on it. */
  ticks_before = read_cpu_ticks (daemon->pid, NULL);
  answered = collect_replies (conns, n_conns, 1000);
  ticks_after = read_cpu_ticks (daemon->pid, NULL);
  cpu_s = (double) (ticks_after - ticks_before) / sysconf (_SC_CLK_TCK);
  g_test_message ("out of descriptors: %.2f s of CPU used over 1 s of refusing (bound %.1f s)",
                  cpu_s, CPU_SPIN_BOUND_S);
  g_assert_cmpfloat (cpu_s, <, CPU_SPIN_BOUND_S);
  g_assert_cmpuint (answered, ==, capacity);
  assert_running (daemon);

  log = daemon_read_log (daemon);
  g_assert_nonnull (strstr (log, "Too many open files"));

  /* Twice as many leave as wait: every waiting client is then served, and
   * a new one after them. */
  for (guint i = 0, closed = 0; closed < 2 * LIMITED_EXCESS; i++)
    if (conns[i].received == HEADER_SIZE + 4)
      {
        close (conns[i].fd);
        conns[i].fd = -1;
        closed++;
      }

  deadline = g_get_monotonic_time () + IO_TIMEOUT_S * G_USEC_PER_SEC;
  do
    answered = collect_replies (conns, n_conns, 100);
  while (answered < n_conns && g_get_monotonic_time () < deadline);
  g_test_message ("out of descriptors: after %u left, %u of %u answered",
                  2 * LIMITED_EXCESS, answered, n_conns);
  g_assert_cmpuint (answered, ==, n_conns);

  assert_daemon_answers (daemon);
  for (guint i = 0; i < n_conns; i++)
    if (conns[i].fd >= 0)
      close (conns[i].fd);
  measure_end (daemon, &measure, 1024);

  g_clear_pointer (&log, g_free);
  log = daemon_read_log (daemon);
  assert_log_clean (log);
  daemon_stop (daemon);
  daemon_free (daemon);
}

/* --- 13. ten thousand at once ------------------------------------------- */

#define N_CONCURRENT 10000
#define CONCURRENT_TIMEOUT_S 60

/* Reads the replies epoll reports; returns how many connections got their
 * whole "pong" in this call. */
static guint
collect_concurrent (int      epoll_fd,
                    Pending *conns,
                    int      timeout_ms)
{
  guint8 expected[HEADER_SIZE + 4];
  struct epoll_event events[512];
  guint complete = 0;
  int n;

  encode_short_frame (expected, "pong");
  do
    n = epoll_wait (epoll_fd, events, G_N_ELEMENTS (events), timeout_ms);
  while (n < 0 && errno == EINTR);
  g_assert_cmpint (n, >=, 0);

  for (int e = 0; e < n; e++)
    {
      Pending *conn = &conns[events[e].data.u32];
      guint8 buffer[64];
      ssize_t got = recv (conn->fd, buffer, sizeof buffer, MSG_DONTWAIT);

      if (got < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (got <= 0)
        g_error ("the daemon closed connection %u before answering", events[e].data.u32);
      g_assert_cmpuint (conn->received + got, <=, sizeof expected);
      g_assert_cmpmem (buffer, got, expected + conn->received, got);
      conn->received += got;
      if (conn->received == sizeof expected)
        {
          epoll_ctl (epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
          complete++;
        }
    }
  return complete;
}

typedef struct {
  guint   backlog_retries;
  guint   fds_open;
  guint64 rss_open_kib;
  double  seconds;
} ConcurrentRound;

/* Opens N_CONCURRENT connections, sends a ping on each before any reply is
 * read, and collects every reply.  The daemon is stopped (SIGSTOP) at
 * first, so that the connections fill its listening backlog, and resumed
 * when a connect is refused for that: it then faces thousands of pending
 * connections, each with a message waiting. */
static void
concurrent_round (Daemon          *daemon,
                  ConcurrentRound *round)
{
  guint8 ping[HEADER_SIZE + 4];
  g_autofree Pending *conns = g_new0 (Pending, N_CONCURRENT);
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + CONCURRENT_TIMEOUT_S * G_USEC_PER_SEC;
  struct sockaddr_un addr;
  gboolean stopped;
  guint answered = 0;
  int epoll_fd = epoll_create1 (EPOLL_CLOEXEC);

  g_assert_cmpint (epoll_fd, >=, 0);
  encode_short_frame (ping, "ping");
  fill_address (&addr, daemon->socket_path);
  memset (round, 0, sizeof *round);

  g_assert_cmpint (kill (daemon->pid, SIGSTOP), ==, 0);
  stopped = TRUE;

  for (guint i = 0; i < N_CONCURRENT; i++)
    {
      struct epoll_event event = { .events = EPOLLIN, .data.u32 = i };
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

      g_assert_cmpint (fd, >=, 0);
      while (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
        {
          /* The backlog is full: let the daemon accept, then retry. */
          if (errno == EAGAIN)
            {
              if (stopped)
                {
                  g_assert_cmpint (kill (daemon->pid, SIGCONT), ==, 0);
                  stopped = FALSE;
                }
              round->backlog_retries++;
              if (g_get_monotonic_time () > deadline)
                g_error ("could not open connection %u within %d s", i, CONCURRENT_TIMEOUT_S);
              answered += collect_concurrent (epoll_fd, conns, 1);
            }
          else if (errno != EINTR)
            g_error ("cannot connect connection %u: %s", i, g_strerror (errno));
        }
      conns[i].fd = fd;
      g_assert_cmpint (send (fd, ping, sizeof ping, MSG_NOSIGNAL), ==, sizeof ping);
      g_assert_cmpint (epoll_ctl (epoll_fd, EPOLL_CTL_ADD, fd, &event), ==, 0);
    }
  if (stopped)
    g_assert_cmpint (kill (daemon->pid, SIGCONT), ==, 0);

  while (answered < N_CONCURRENT && g_get_monotonic_time () < deadline)
    answered += collect_concurrent (epoll_fd, conns, 100);
  g_assert_cmpuint (answered, ==, N_CONCURRENT);
  round->seconds = (g_get_monotonic_time () - start) / 1e6;

  /* Every one of them is open on the daemon's side too. */
  round->fds_open = wait_for_fd_count (daemon, daemon->fd_baseline + N_CONCURRENT);
  g_assert_cmpuint (round->fds_open, ==, daemon->fd_baseline + N_CONCURRENT);
  round->rss_open_kib = read_rss_kib (daemon->pid);

  for (guint i = 0; i < N_CONCURRENT; i++)
    close (conns[i].fd);
  close (epoll_fd);
}

/* The length of the daemon's listening backlog: what listen(SOMAXCONN)
 * gets, capped by the system. */
static guint
listen_backlog (void)
{
  g_autofree char *text = NULL;
  guint64 system_max = SOMAXCONN;

  if (g_file_get_contents ("/proc/sys/net/core/somaxconn", &text, NULL, NULL))
    system_max = g_ascii_strtoull (text, NULL, 10);
  return MIN (SOMAXCONN, system_max);
}

static void
test_concurrent_connections (void)
{
  Daemon *daemon = get_main_daemon ();
  ConcurrentRound round;
  struct rlimit limit;
  Measure measure;

  /* main() raised the soft limit to the hard one. */
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &limit), ==, 0);
  if (limit.rlim_cur < N_CONCURRENT + 256)
    {
      g_autofree char *why = g_strdup_printf ("%d connections need more descriptors than "
                                              "the hard limit of %lu", N_CONCURRENT,
                                              (unsigned long) limit.rlim_cur);
      g_test_skip (why);
      return;
    }

  /* Three rounds bring the daemon's heap to its working size: the second
   * and the third may still grow it by some 200 KiB each, the next ones
   * do not. */
  for (guint i = 1; i <= 3; i++)
    {
      concurrent_round (daemon, &round);
      g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline), ==,
                        daemon->fd_baseline);
      g_test_message ("10000 concurrent connections (warm-up %u): all answered in %.2f s, "
                      "%u connects retried on a full backlog, daemon held %u descriptors "
                      "and %" G_GUINT64_FORMAT " KiB; %" G_GUINT64_FORMAT " KiB once they "
                      "are closed", i, round.seconds, round.backlog_retries, round.fds_open,
                      round.rss_open_kib, read_rss_kib (daemon->pid));
    }

  measure_begin (daemon, &measure, "10000 concurrent connections");
  concurrent_round (daemon, &round);
  g_test_message ("10000 concurrent connections: all answered in %.2f s, "
                  "%u connects retried on a full backlog, daemon held %u descriptors "
                  "and %" G_GUINT64_FORMAT " KiB with all of them open",
                  round.seconds, round.backlog_retries, round.fds_open, round.rss_open_kib);
  /* The backlog did fill up, so the retry path was taken. */
  if (listen_backlog () < N_CONCURRENT)
    g_assert_cmpuint (round.backlog_retries, >, 0);
  /* Some slack for how the blocks of 10,000 connections interleave.  A
   * connection's structure (112 bytes) or its output buffer (about 80) left
   * behind would be 1.1 MiB or 780 KiB. */
  measure_end (daemon, &measure, 512);
}

/* --- the end ------------------------------------------------------------ */

static void
test_daemon_exit (void)
{
  Daemon *daemon = get_main_daemon ();
  g_autofree char *log = NULL;
  g_auto(GStrv) lines = NULL;

  daemon_stop (daemon);
  log = daemon_read_log (daemon);
  lines = g_strsplit (log, "\n", 0);
  g_test_message ("rabcd exited with status 0 on SIGTERM; its log has %u lines",
                  g_strv_length (lines) - 1);
  assert_log_clean (log);

  /* The daemon says, in one line each, why it dropped a client. */
  if (broke_protocol && strstr (log, "disconnecting a client that broke the protocol") == NULL)
    g_error ("rabcd did not log the protocol violations:\n%s", log);
  if (flooded && strstr (log, "disconnecting a client that does not read its replies") == NULL)
    g_error ("rabcd did not log the client that does not read:\n%s", log);

  daemon_free (daemon);
  main_daemon = NULL;
}

int
main (int   argc,
      char *argv[])
{
  struct rlimit limit;
  int ret;

  g_test_init (&argc, &argv, NULL);

  /* The 10,000 connections are this process's descriptors too. */
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }
  signal (SIGPIPE, SIG_IGN);

  tmpdir = rabc_test_make_tmpdir ();

  g_test_add_func ("/rabc/reliability/garbage", test_garbage);
  g_test_add_func ("/rabc/reliability/huge-length", test_huge_header);
  g_test_add_func ("/rabc/reliability/length-at-limit", test_length_at_limit);
  g_test_add_func ("/rabc/reliability/length-below-limit", test_length_below_limit);
  g_test_add_func ("/rabc/reliability/truncated-frame", test_truncated_frame);
  g_test_add_func ("/rabc/reliability/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/rabc/reliability/reply-before-violation", test_reply_before_violation);
  g_test_add_func ("/rabc/reliability/empty-frame", test_empty_frame);
  g_test_add_func ("/rabc/reliability/byte-at-a-time", test_byte_at_a_time);
  g_test_add_func ("/rabc/reliability/never-reads", test_never_reads);
  g_test_add_func ("/rabc/reliability/half-close", test_half_close);
  g_test_add_func ("/rabc/reliability/connect-disconnect", test_connect_disconnect);
  g_test_add_func ("/rabc/reliability/killed-mid-frame", test_killed_clients);
  g_test_add_func ("/rabc/reliability/descriptor-exhaustion", test_descriptor_exhaustion);
  g_test_add_func ("/rabc/reliability/concurrent-connections", test_concurrent_connections);
  g_test_add_func ("/rabc/reliability/daemon-exit", test_daemon_exit);

  ret = g_test_run ();

  /* Only when the last test did not run, for example with -p. */
  if (main_daemon != NULL)
    daemon_stop (main_daemon);
  rabc_test_remove_tmpdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
