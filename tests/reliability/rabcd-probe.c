/* rabcd-probe.c: a real rabcd, started and watched from outside
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
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rabcd-probe.h"
#include "rabc-test-util.h"


guint
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

guint64
read_rss_kib (pid_t pid)
{
  return rabc_test_read_status_kib (pid, "VmRSS:");
}

/* Fields 14 and 15 of /proc/PID/stat: user and system time, in clock ticks.
 * They follow the command name, which may hold spaces, so count from its
 * closing parenthesis; the state is the field right after it. */
guint64
read_cpu_ticks (pid_t  pid,
                char  *state)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) fields = NULL;
  const char *rest;

  g_file_get_contents (path, &stat, NULL, &error);
  g_assert_no_error (error);
  rest = strrchr (stat, ')');
  g_assert_nonnull (rest);
  fields = g_strsplit (rest + 2, " ", 0);
  g_assert_cmpuint (g_strv_length (fields), >, 13);
  if (state != NULL)
    *state = fields[0][0];
  /* fields[0] is field 3, so field N is fields[N - 3]. */
  return g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10);
}

void
assert_running (Daemon *daemon)
{
  char state = '?';

  read_cpu_ticks (daemon->pid, &state);
  if (state == 'Z' || state == 'X')
    g_error ("rabcd (pid %d) is no longer running: state %c", (int) daemon->pid, state);
}

/* Waits until the daemon holds @expected descriptors; returns the last
 * count, which the caller compares. */
guint
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
guint
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
void
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
  rlim_t address_space;
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
  if (setup->address_space > 0)
    {
      struct rlimit limit = { .rlim_cur = setup->address_space, .rlim_max = setup->address_space };

      setrlimit (RLIMIT_AS, &limit);
    }
}

static char *daemon_dir;

void
daemon_set_directory (const char *dir)
{
  g_free (daemon_dir);
  daemon_dir = g_strdup (dir);
}

/* Starts rabcd as @options say, on a socket in the directory of
 * daemon_set_directory().  Its output goes to a file: a pipe nobody reads
 * would block the daemon once full, and the file is checked at the end. */
Daemon *
daemon_start_full (const DaemonOptions *options)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  ChildSetup setup = { .nofile = options->nofile, .address_space = options->address_space };
  g_autofree char *log_name = g_strconcat (options->name, ".log", NULL);
  g_autofree char *uid_arg = NULL, *gid_arg = NULL;
  const char *rabcd = g_getenv ("RABCD");
  Daemon *daemon = g_new0 (Daemon, 1);
  guint i;

  g_assert_nonnull (rabcd);
  g_assert_nonnull (daemon_dir);
  daemon->socket_path = g_build_filename (daemon_dir, options->name, NULL);
  daemon->log_path = g_build_filename (daemon_dir, log_name, NULL);

  if (options->user != NULL)
    {
      /* setpriv changes the user, and sets the parent-death signal after
       * that, since changing the user clears it. */
      uid_arg = g_strdup_printf ("--reuid=%u", (guint) options->user->uid);
      gid_arg = g_strdup_printf ("--regid=%u", (guint) options->user->gid);
      g_ptr_array_add (argv, (char *) "setpriv");
      g_ptr_array_add (argv, uid_arg);
      g_ptr_array_add (argv, gid_arg);
      g_ptr_array_add (argv, (char *) "--clear-groups");
      g_ptr_array_add (argv, (char *) "--pdeathsig=KILL");
      g_ptr_array_add (argv, (char *) "--");
    }
  g_ptr_array_add (argv, (char *) rabcd);
  g_ptr_array_add (argv, (char *) "--socket");
  g_ptr_array_add (argv, daemon->socket_path);
  for (i = 0; options->args != NULL && options->args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) options->args[i]);
  g_ptr_array_add (argv, NULL);

  /* GLib writes debug messages (--verbose) to stdout, the rest to
   * stderr: the log has both. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);
  /* meson test sets MALLOC_PERTURB_, which makes malloc write every block it
   * hands out: a buffer sized for a frame that never arrives would then be
   * resident in full.  The daemon's memory is measured as it runs in
   * production. */
  g_subprocess_launcher_unsetenv (launcher, "MALLOC_PERTURB_");
  /* Debug messages are in the log when a test asks for them (--verbose),
   * not whenever the tests run with G_MESSAGES_DEBUG set. */
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");
  g_subprocess_launcher_set_stdout_file_path (launcher, daemon->log_path);
  g_subprocess_launcher_set_child_setup (launcher, daemon_child_setup, &setup, NULL);
  daemon->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata,
                                                  &error);
  g_assert_no_error (error);
  daemon->pid = atoi (g_subprocess_get_identifier (daemon->process));

  /* The baseline is taken before any client connects, so that a client
   * left open by the daemon can never hide in it. */
  for (i = 0; i < 1000 && !g_file_test (daemon->socket_path, G_FILE_TEST_EXISTS); i++)
    g_usleep (10 * 1000);
  g_assert_cmpuint (i, <, 1000);
  daemon->fd_baseline = wait_for_stable_fd_count (daemon);

  if (options->user == NULL)
    {
      assert_daemon_answers (daemon);
      g_assert_cmpuint (wait_for_fd_count (daemon, daemon->fd_baseline), ==, daemon->fd_baseline);
    }
  g_test_message ("rabcd %s: pid %d, %u descriptors at rest, VmRSS %" G_GUINT64_FORMAT " KiB",
                  options->name, (int) daemon->pid, daemon->fd_baseline, read_rss_kib (daemon->pid));
  return daemon;
}

/* Starts rabcd on @name with its defaults, and @nofile as its descriptor
 * limit unless 0. */
Daemon *
daemon_start (const char *name,
              rlim_t      nofile)
{
  DaemonOptions options = { .name = name, .nofile = nofile };

  return daemon_start_full (&options);
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

void
daemon_free (Daemon *daemon)
{
  g_clear_object (&daemon->process);
  g_free (daemon->socket_path);
  g_free (daemon->log_path);
  g_free (daemon);
}

/* Stops the daemon with SIGTERM, as a service manager would: it must exit
 * with status 0 and remove its socket file. */
void
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

char *
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
void
assert_log_clean (const char *log)
{
  if (strstr (log, "WARNING **") != NULL || strstr (log, "CRITICAL **") != NULL ||
      strstr (log, "ERROR **") != NULL)
    g_error ("rabcd logged a warning or worse:\n%s", log);
}


/* --- one scenario: before and after ------------------------------------ */


void
measure_begin (Daemon     *daemon,
               Measure    *measure,
               const char *name)
{
  measure->name = name;
  /* The daemon accepts in order: once a new client is answered, every
   * connection of the scenario before has been accepted, and once the
   * descriptors are back, each has been dealt with. */
  assert_daemon_answers (daemon);
  measure->fds_before = wait_for_fd_count (daemon, daemon->fd_baseline);
  g_assert_cmpuint (measure->fds_before, ==, daemon->fd_baseline);
  measure->rss_before = read_rss_kib (daemon->pid);
}

/* The checks every scenario ends with: a well-behaved client is answered,
 * the descriptors come back to the baseline, and resident memory grew by
 * at most @rss_bound_kib. */
/* measure_end(), but returns whether the memory stayed within the bound
 * instead of failing the test. */
gboolean
measure_end_within (Daemon  *daemon,
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
  return growth <= (gint64) rss_bound_kib;
}

void
measure_end (Daemon  *daemon,
             Measure *measure,
             guint64  rss_bound_kib)
{
  if (!measure_end_within (daemon, measure, rss_bound_kib))
    g_error ("%s: the daemon's resident memory grew by more than %" G_GUINT64_FORMAT " KiB",
             measure->name, rss_bound_kib);
}

/* --- raw sockets -------------------------------------------------------- */

void
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
int
connect_raw (Daemon *daemon)
{
  struct timeval timeout = { .tv_sec = IO_TIMEOUT_S };
  int fd = rabc_test_connect_raw (daemon->socket_path);

  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), ==, 0);
  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout), ==, 0);
  return fd;
}

void
write_header (int     fd,
              guint64 len)
{
  rabc_test_write_all (fd, &len, sizeof len);
}

/* The first @n bytes of the header of a frame of @len bytes. */
void
write_partial_header (int     fd,
                      guint64 len,
                      gsize   n)
{
  g_assert_cmpuint (n, <, HEADER_SIZE);
  rabc_test_write_all (fd, &len, n);
}

/* The 12 bytes of a four-letter frame such as "ping" or "pong", with the
 * length in host byte order as on the wire. */
void
encode_short_frame (guint8     *out,
                    const char *text)
{
  guint64 len = 4;

  g_assert_cmpuint (strlen (text), ==, 4);
  memcpy (out, &len, HEADER_SIZE);
  memcpy (out + HEADER_SIZE, text, 4);
}

void
assert_pong (int fd)
{
  g_autofree char *reply = rabc_test_read_frame (fd);

  g_assert_cmpstr (reply, ==, "pong");
}

/* Reads until the daemon closes the connection.  Returns the number of
 * bytes it sent first, and checks that they are whole "pong" frames;
 * fails if it does not close within CLOSE_TIMEOUT_MS. */
gsize
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
void
assert_closed_without_reply (int fd)
{
  g_assert_cmpuint (read_until_closed (fd), ==, 0);
}


/* The user @name, created with useradd(8) when it does not exist yet; NULL
 * when it cannot be (the tests then need root). */
const TestUser *
test_user_get (const char *name)
{
  static GHashTable *users;
  TestUser *user;
  uid_t uid;
  gid_t gid;

  if (users == NULL)
    users = g_hash_table_new (g_str_hash, g_str_equal);
  user = g_hash_table_lookup (users, name);
  if (user != NULL)
    return user;

  if (!rabc_test_get_user (name, &uid, &gid))
    return NULL;

  user = g_new0 (TestUser, 1);
  user->name = g_strdup (name);
  user->uid = uid;
  user->gid = gid;
  g_hash_table_insert (users, (char *) user->name, user);
  return user;
}

/* Raises the test's own descriptor limit to the hard one, since its many
 * connections are its descriptors too, and ignores SIGPIPE, so that a
 * daemon hanging up is an error to check rather than a death. */
void
test_process_setup (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }
  signal (SIGPIPE, SIG_IGN);
}
