/* bench-load.h: the epoll load generator and the many-connections test
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>
#include <sys/types.h>

#include "bench-util.h"

G_BEGIN_DECLS

typedef struct {
  guint   n_conns;
  double  req_per_s;     /* replies counted in the window, per second */
  double  window_s;
  guint64 sent;          /* over the whole run, warm-up and drain included */
  guint64 answered;
  double  server_cpu;    /* CPUs the server used during the window, or -1 */
  double  loadgen_cpu;   /* CPUs the load generator used during the window */
} BenchLoadResult;

/* The measuring window of a throughput run.  It opens once the warm-up is
 * over and lasts its duration from when it really opens: a load generator
 * kept from running past the planned start still measures a whole
 * window.  CPU is in nanoseconds: the server's from bench_proc_cpu_ns(),
 * the load generator's from @self_cpu_ns. */
typedef struct {
  pid_t    server_pid;
  gint64 (*self_cpu_ns) (void);
  gint64   duration_ns;
  gint64   opens;        /* planned, then when it did */
  gint64   closes;
  gboolean open;
  gboolean closed;
  guint64  answered_at_open;
  gint64   server_cpu_at_open;
  gint64   self_cpu_at_open;
} BenchWindow;

void     bench_window_init   (BenchWindow      *window,
                              pid_t             server_pid,
                              gint64          (*self_cpu_ns) (void),
                              double            warmup_s,
                              double            duration_s);
/* Moves the window on to @now, with @answered replies counted so far.
 * Returns: TRUE when it closes, with @result's window_s, req_per_s,
 *   server_cpu and loadgen_cpu set */
gboolean bench_window_update (BenchWindow      *window,
                              gint64            now,
                              guint64           answered,
                              BenchLoadResult  *result);

/* Opens @n_conns connections, keeps one request of @request_size bytes
 * (bench_request_message()) in flight on each (the next is sent when the
 * "pong" arrives), counts replies for @duration_s after @warmup_s, then
 * stops sending and waits for every outstanding reply. */
gboolean bench_load_run  (const char      *path,
                          pid_t            server_pid,
                          guint            n_conns,
                          gsize            request_size,
                          double           warmup_s,
                          double           duration_s,
                          BenchLoadResult *result,
                          GError         **error);

typedef struct {
  guint  n_conns;
  guint  held;              /* connections the server had accepted */
  guint  answered;          /* of one "ping" sent on each */
  long   rss_before_kib;
  long   rss_idle_kib;      /* with every connection open and idle */
  long   rss_answered_kib;  /* after each was answered once */
  double connect_s;
  double answer_s;
} BenchScaleResult;

/* Opens @n_conns idle connections and waits until the server (@server_pid)
 * holds them all, reading its VmRSS before and after; then sends one
 * "ping" on each and waits for every reply. */
gboolean bench_scale_run (const char       *path,
                          pid_t             server_pid,
                          guint             n_conns,
                          BenchScaleResult *result,
                          GError          **error);

typedef struct {
  guint   n_greedy;
  double  greedy_replies_per_s;  /* all greedy connections together */
  guint64 victim_round_trips;
} BenchFairnessResult;

/* Opens @n_greedy connections that pipeline "ping" as fast as they can
 * (up to 64 KiB in flight each, replies read as they come), in a thread of
 * the lowest priority, SCHED_IDLE, so that it never keeps the victim from
 * its CPU; after 0.2 s of that, a victim on a connection of its own does
 * blocking round trips for @duration_s, and at least 10, each recorded in
 * @victim.  Then the greedy connections stop sending: the run fails unless
 * every ping of theirs and of the victim is answered. */
gboolean bench_fairness_run (const char          *path,
                             pid_t                server_pid,
                             guint                n_greedy,
                             double               duration_s,
                             BenchSamples        *victim,
                             BenchFairnessResult *result,
                             GError             **error);

G_END_DECLS
