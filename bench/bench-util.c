/* bench-util.c: clocks, samples, child processes and sockets for rabc-bench
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "bench-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

guint8 bench_ping_frame[BENCH_PING_FRAME_SIZE];
guint8 bench_pong_frame[BENCH_PING_FRAME_SIZE];

void
bench_frames_init (void)
{
  guint64 len = 4;

  memcpy (bench_ping_frame, &len, sizeof len);
  memcpy (bench_ping_frame + BENCH_FRAME_HEADER_SIZE, "ping", 4);
  memcpy (bench_pong_frame, &len, sizeof len);
  memcpy (bench_pong_frame + BENCH_FRAME_HEADER_SIZE, "pong", 4);
}

char *
bench_request_message (gsize size)
{
  char *message;

  g_return_val_if_fail (size >= 4, NULL);
  message = g_malloc (size + 1);
  memcpy (message, "ping", 4);
  memset (message + 4, 'x', size - 4);
  message[size] = '\0';
  return message;
}

guint8 *
bench_request_frame (gsize size)
{
  g_autofree char *message = bench_request_message (size);
  guint8 *frame = g_malloc (BENCH_FRAME_HEADER_SIZE + size);
  guint64 len = size;

  memcpy (frame, &len, sizeof len);
  memcpy (frame + BENCH_FRAME_HEADER_SIZE, message, size);
  return frame;
}

void
bench_samples_add (BenchSamples *samples,
                   gint64        value_ns)
{
  if (samples->len == samples->allocated)
    {
      samples->allocated = MAX (1024, samples->allocated * 2);
      samples->values = g_renew (gint64, samples->values, samples->allocated);
    }
  samples->values[samples->len++] = value_ns;
  samples->sorted = FALSE;
}

static int
compare_gint64 (const void *a,
                const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

double
bench_samples_percentile (BenchSamples *samples,
                          double        p)
{
  gsize rank;

  if (samples->len == 0)
    return NAN;

  if (!samples->sorted)
    {
      qsort (samples->values, samples->len, sizeof (gint64), compare_gint64);
      samples->sorted = TRUE;
    }

  rank = (gsize) ceil (p / 100.0 * samples->len);
  rank = CLAMP (rank, 1, samples->len);
  return samples->values[rank - 1] / 1000.0;
}

void
bench_samples_clear (BenchSamples *samples)
{
  g_clear_pointer (&samples->values, g_free);
  samples->len = samples->allocated = 0;
}

static int
compare_double (const void *a,
                const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

double
bench_median (const double *values,
              gsize         n)
{
  g_autofree double *copy = NULL;

  if (n == 0)
    return NAN;

  copy = g_memdup2 (values, n * sizeof (double));
  qsort (copy, n, sizeof (double), compare_double);
  return n % 2 ? copy[n / 2] : (copy[n / 2 - 1] + copy[n / 2]) / 2.0;
}

int
bench_reply_scanner_feed (BenchReplyScanner *s,
                          const guint8      *data,
                          gsize              len)
{
  const guint8 *p = data, *end = data + len;
  int replies = 0;

  while (p < end)
    {
      if (s->header_len < BENCH_FRAME_HEADER_SIZE)
        {
          gsize k = MIN ((gsize) (BENCH_FRAME_HEADER_SIZE - s->header_len), (gsize) (end - p));

          memcpy (s->header + s->header_len, p, k);
          s->header_len += k;
          p += k;
          if (s->header_len < BENCH_FRAME_HEADER_SIZE)
            break;

          memcpy (&s->payload_len, s->header, sizeof s->payload_len);
          if (s->payload_len != 4)
            return -1;
          s->payload_left = s->payload_len;
          s->payload_len_kept = 0;
        }

      {
        gsize k = MIN (s->payload_left, (guint64) (end - p));

        memcpy (s->payload + s->payload_len_kept, p, k);
        s->payload_len_kept += k;
        s->payload_left -= k;
        p += k;
      }

      if (s->payload_left == 0)
        {
          if (memcmp (s->payload, "pong", 4) != 0)
            return -1;
          s->header_len = 0;
          replies++;
        }
    }

  return replies;
}

gboolean
bench_reply_scanner_idle (const BenchReplyScanner *scanner)
{
  return scanner->header_len == 0;
}

/* Children, for bench_kill_all_children () from a signal handler. */
#define MAX_CHILDREN 32
static volatile pid_t children[MAX_CHILDREN];

static void
register_child (pid_t pid)
{
  for (guint i = 0; i < MAX_CHILDREN; i++)
    if (children[i] == 0)
      {
        children[i] = pid;
        return;
      }
}

static void
unregister_child (pid_t pid)
{
  for (guint i = 0; i < MAX_CHILDREN; i++)
    if (children[i] == pid)
      children[i] = 0;
}

void
bench_kill_all_children (void)
{
  for (guint i = 0; i < MAX_CHILDREN; i++)
    if (children[i] > 0)
      kill (children[i], SIGKILL);
}

pid_t
bench_spawn (const BenchSpawn  *spawn,
             GError           **error)
{
  pid_t parent = getpid ();
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  pid_t pid;

  if (devnull < 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "cannot open /dev/null: %s", g_strerror (errsv));
      return -1;
    }

  pid = fork ();
  if (pid < 0)
    {
      int errsv = errno;
      close (devnull);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "cannot fork: %s", g_strerror (errsv));
      return -1;
    }

  if (pid == 0)
    {
      /* Only async-signal-safe calls from here to exec. */
      prctl (PR_SET_PDEATHSIG, SIGTERM);
      if (getppid () != parent)
        _exit (127);
      dup2 (spawn->stdin_fd >= 0 ? spawn->stdin_fd : devnull, 0);
      dup2 (spawn->stdout_fd >= 0 ? spawn->stdout_fd : devnull, 1);
      dup2 (spawn->stderr_fd >= 0 ? spawn->stderr_fd : devnull, 2);
      if (spawn->nofile != NULL)
        setrlimit (RLIMIT_NOFILE, spawn->nofile);
      if (spawn->cpu >= 0)
        {
          cpu_set_t set;

          CPU_ZERO (&set);
          CPU_SET (spawn->cpu, &set);
          sched_setaffinity (0, sizeof set, &set);
        }
      if (spawn->envp != NULL)
        execve (spawn->argv[0], (char *const *) spawn->argv, spawn->envp);
      else
        execv (spawn->argv[0], (char *const *) spawn->argv);
      {
        static const char msg[] = "rabc-bench: cannot execute the child program\n";
        ssize_t ignored = write (2, msg, sizeof msg - 1);
        (void) ignored;
      }
      _exit (127);
    }

  close (devnull);
  register_child (pid);
  return pid;
}

int
bench_stop_child (pid_t pid,
                  guint grace_ms)
{
  gint64 deadline = bench_now_ns () + (gint64) grace_ms * 1000000;
  int status = 0;

  if (pid <= 0)
    return -1;

  if (kill (pid, SIGTERM) < 0 && errno == ESRCH)
    {
      pid_t r = waitpid (pid, &status, WNOHANG);
      unregister_child (pid);
      return r == pid ? status : -1;
    }

  for (;;)
    {
      pid_t r = waitpid (pid, &status, WNOHANG);

      if (r == pid)
        break;
      if (r < 0)
        {
          status = -1;
          break;
        }
      if (bench_now_ns () > deadline)
        {
          kill (pid, SIGKILL);
          if (waitpid (pid, &status, 0) != pid)
            status = -1;
          break;
        }
      g_usleep (2000);
    }

  unregister_child (pid);
  return status;
}

void
bench_forget_child (pid_t pid)
{
  unregister_child (pid);
}

gboolean
bench_child_alive (pid_t pid)
{
  siginfo_t info = { 0 };

  /* WNOWAIT: leave the exit status for bench_stop_child () to report. */
  if (pid <= 0 || waitid (P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
    return FALSE;
  return info.si_pid == 0;
}

long
bench_proc_rss_kib (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *contents = NULL;
  const char *line;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;

  line = strstr (contents, "\nVmRSS:");
  if (line == NULL)
    return -1;
  return strtol (line + strlen ("\nVmRSS:"), NULL, 10);
}

int
bench_proc_count_fds (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  DIR *dir = opendir (path);
  struct dirent *entry;
  int n = 0;

  if (dir == NULL)
    return -1;
  while ((entry = readdir (dir)) != NULL)
    if (entry->d_name[0] != '.')
      n++;
  closedir (dir);
  return n;
}

gint64
bench_thread_cpu_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

gint64
bench_proc_cpu_ns (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/task", (int) pid);
  DIR *dir = opendir (path);
  struct dirent *entry;
  gint64 total = 0;
  gboolean found = FALSE;

  if (dir == NULL)
    return -1;
  while ((entry = readdir (dir)) != NULL)
    {
      g_autofree char *stat_path = NULL;
      g_autofree char *contents = NULL;

      if (entry->d_name[0] == '.')
        continue;
      stat_path = g_strdup_printf ("%s/%s/schedstat", path, entry->d_name);
      /* The first field: time spent on a CPU, in nanoseconds. */
      if (g_file_get_contents (stat_path, &contents, NULL, NULL))
        {
          total += g_ascii_strtoll (contents, NULL, 10);
          found = TRUE;
        }
    }
  closedir (dir);
  return found ? total : -1;
}

gint64
bench_self_cpu_ns (void)
{
  struct rusage usage;

  if (getrusage (RUSAGE_SELF, &usage) < 0)
    return -1;
  return ((gint64) usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_GINT64_CONSTANT (1000000000) +
         ((gint64) usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000;
}

static gboolean
fill_address (struct sockaddr_un  *addr,
              const char          *path,
              GError             **error)
{
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen (path) >= sizeof addr->sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                   "socket path %s is too long", path);
      return FALSE;
    }
  strcpy (addr->sun_path, path);
  return TRUE;
}

int
bench_connect_blocking (const char  *path,
                        GError     **error)
{
  struct sockaddr_un addr;
  int fd;

  if (!fill_address (&addr, path, error))
    return -1;

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "cannot connect to %s: %s", path, g_strerror (errsv));
      return -1;
    }
  return fd;
}

gboolean
bench_connect_many (const char  *path,
                    int         *fds,
                    guint        n,
                    guint        timeout_ms,
                    GError     **error)
{
  gint64 deadline = bench_now_ns () + (gint64) timeout_ms * 1000000;
  struct sockaddr_un addr;
  guint i = 0;

  if (!fill_address (&addr, path, error))
    return FALSE;

  while (i < n)
    {
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int errsv;

      if (fd < 0)
        {
          errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "cannot create connection %u of %u: %s", i + 1, n, g_strerror (errsv));
          goto fail;
        }

      if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
        {
          fds[i++] = fd;
          continue;
        }

      errsv = errno;
      close (fd);
      /* A full backlog: the listener has not accepted the others yet. */
      if ((errsv == EAGAIN || errsv == EINTR) && bench_now_ns () < deadline)
        {
          g_usleep (500);
          continue;
        }

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "cannot open connection %u of %u to %s: %s",
                   i + 1, n, path, g_strerror (errsv));
      goto fail;
    }
  return TRUE;

fail:
  while (i > 0)
    close (fds[--i]);
  return FALSE;
}

gboolean
bench_wait_for_listener (const char  *path,
                         pid_t        pid,
                         guint        timeout_ms,
                         GError     **error)
{
  gint64 deadline = bench_now_ns () + (gint64) timeout_ms * 1000000;

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      int fd = bench_connect_blocking (path, &local_error);

      if (fd >= 0)
        {
          close (fd);
          return TRUE;
        }
      if (!bench_child_alive (pid))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "the server exited before listening on %s", path);
          return FALSE;
        }
      if (bench_now_ns () > deadline)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "the server did not listen on %s within %u ms: %s",
                       path, timeout_ms, local_error->message);
          return FALSE;
        }
      g_usleep (5000);
    }
}

gboolean
bench_write_all (int           fd,
                 const guint8 *data,
                 gsize         len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              struct pollfd pfd = { .fd = fd, .events = POLLOUT };
              poll (&pfd, 1, 1000);
              continue;
            }
          return FALSE;
        }
      data += n;
      len -= n;
    }
  return TRUE;
}

void
bench_raise_nofile (struct rlimit *original)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) < 0)
    return;
  if (original != NULL)
    *original = limit;
  if (limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }
}

guint
bench_allowed_cpus (int   *cpus,
                    guint  n)
{
  cpu_set_t set;
  guint found = 0;

  if (sched_getaffinity (0, sizeof set, &set) < 0)
    return 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && found < n; cpu++)
    if (CPU_ISSET (cpu, &set))
      cpus[found++] = cpu;
  return found;
}

gboolean
bench_pin_self (int cpu)
{
  cpu_set_t set;

  CPU_ZERO (&set);
  CPU_SET (cpu, &set);
  return sched_setaffinity (0, sizeof set, &set) == 0;
}
