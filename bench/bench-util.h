/* bench-util.h: clocks, samples, child processes and sockets for rabc-bench
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <gio/gio.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

G_BEGIN_DECLS

/* The wire format, written out here on purpose: the baseline programs must
 * not share code with the library they are compared with. */
#define BENCH_FRAME_HEADER_SIZE 8
#define BENCH_MAX_MESSAGE_SIZE  (1024 * 1024)
#define BENCH_PING_FRAME_SIZE   (BENCH_FRAME_HEADER_SIZE + 4)

extern guint8 bench_ping_frame[BENCH_PING_FRAME_SIZE];
extern guint8 bench_pong_frame[BENCH_PING_FRAME_SIZE];
void     bench_frames_init        (void);

/* The request message of @size bytes: "ping", then 'x' up to @size (ASCII,
 * valid UTF-8); @size is at least 4.  NUL-terminated; free with g_free(). */
char    *bench_request_message    (gsize size);
/* The same message as a frame, header included: BENCH_FRAME_HEADER_SIZE +
 * @size bytes. */
guint8  *bench_request_frame      (gsize size);

static inline gint64
bench_now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

/* Round-trip times in nanoseconds. */
typedef struct {
  gint64 *values;
  gsize   len;
  gsize   allocated;
  gboolean sorted;
} BenchSamples;

void     bench_samples_add        (BenchSamples *samples,
                                   gint64        value_ns);
/* Percentile @p (0 to 100) in microseconds, nearest rank; NAN if empty. */
double   bench_samples_percentile (BenchSamples *samples,
                                   double        p);
void     bench_samples_clear      (BenchSamples *samples);

double   bench_median             (const double *values,
                                   gsize         n);

/* Reports a reply that is not a well-formed "pong" frame. */
typedef struct {
  guint8  header[BENCH_FRAME_HEADER_SIZE];
  guint   header_len;
  guint64 payload_left;
  guint64 payload_len;
  char    payload[4];
  guint   payload_len_kept;
} BenchReplyScanner;

/* Feeds @len bytes; returns the number of complete "pong" replies, or -1
 * when something else arrived. */
int      bench_reply_scanner_feed (BenchReplyScanner *scanner,
                                   const guint8      *data,
                                   gsize              len);
gboolean bench_reply_scanner_idle (const BenchReplyScanner *scanner);

/* Child processes.  Every child gets PR_SET_PDEATHSIG (SIGTERM), so none
 * outlives the benchmark; they are also stopped explicitly by PID. */
typedef struct {
  const char *const *argv;
  char            **envp;       /* NULL: inherit */
  int               stdin_fd;   /* -1: /dev/null */
  int               stdout_fd;  /* -1: /dev/null */
  int               stderr_fd;  /* -1: /dev/null */
  const struct rlimit *nofile;  /* NULL: inherit */
  int               cpu;        /* pin to this CPU; -1: inherit */
} BenchSpawn;

pid_t    bench_spawn              (const BenchSpawn *spawn,
                                   GError          **error);
/* SIGTERM, then SIGKILL after @grace_ms; reaps the child.  Returns its wait
 * status, or -1 if it was already reaped. */
int      bench_stop_child         (pid_t             pid,
                                   guint             grace_ms);
gboolean bench_child_alive        (pid_t             pid);
/* Forgets a child the caller has reaped itself. */
void     bench_forget_child       (pid_t             pid);
/* Kills every child still registered; for signal handlers and exit paths. */
void     bench_kill_all_children  (void);

/* /proc readers: -1 when unavailable. */
long     bench_proc_rss_kib       (pid_t pid);
int      bench_proc_count_fds     (pid_t pid);
/* CPU time of every thread of @pid, in nanoseconds, from
 * /proc/PID/task/TID/schedstat; -1 when unavailable. */
gint64   bench_proc_cpu_ns        (pid_t pid);
/* CPU time of this process, all its threads, from getrusage (RUSAGE_SELF),
 * in nanoseconds. */
gint64   bench_self_cpu_ns        (void);
/* CPU time of the calling thread, in nanoseconds. */
gint64   bench_thread_cpu_ns      (void);

/* Sockets. */
int      bench_connect_blocking   (const char *path,
                                   GError    **error);
/* Opens @n non-blocking connections into @fds, retrying while the
 * listener's backlog is full, for at most @timeout_ms. */
gboolean bench_connect_many       (const char *path,
                                   int        *fds,
                                   guint       n,
                                   guint       timeout_ms,
                                   GError    **error);
gboolean bench_wait_for_listener  (const char *path,
                                   pid_t       pid,
                                   guint       timeout_ms,
                                   GError    **error);
gboolean bench_write_all          (int           fd,
                                   const guint8 *data,
                                   gsize         len);

void     bench_raise_nofile       (struct rlimit *original);

/* The first @n CPUs this process may run on; returns how many were found. */
guint    bench_allowed_cpus       (int           *cpus,
                                   guint          n);
gboolean bench_pin_self           (int            cpu);

G_END_DECLS
