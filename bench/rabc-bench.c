/* rabc-bench: latency, throughput and scale of librabc against the physical
 * baseline, measured in one run on one machine
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rabc.h>

#include "bench-gdbus.h"
#include "bench-load.h"
#include "bench-raw-server.h"
#include "bench-service.h"
#include "bench-syscalls.h"
#include "bench-util.h"

#ifndef RABC_BENCH_RABCD
#define RABC_BENCH_RABCD ""
#endif
#ifndef RABC_BENCH_PYTHON
#define RABC_BENCH_PYTHON "/usr/bin/python3"
#endif
#ifndef RABC_BENCH_PY_SCRIPT
#define RABC_BENCH_PY_SCRIPT ""
#endif
#ifndef RABC_BENCH_PY_SERVICE
#define RABC_BENCH_PY_SERVICE ""
#endif
#ifndef RABC_BENCH_BUILD_ROOT
#define RABC_BENCH_BUILD_ROOT ""
#endif

#define MAX_ROUNDS 64

/* The targets, as ratios to the raw baseline of the same run; the latency
 * ones are in latency_target (). */
#define TARGET_THROUGHPUT        0.9   /* 4 B requests, 100 and 1000 connections */
#define TARGET_THROUGHPUT_LARGE  0.8   /* 64 KiB requests, 100 connections */
/* System calls per round trip at 4 B, counted with strace (--syscalls). */
#define TARGET_SYSCALLS_CLIENT 2.0
#define TARGET_SYSCALLS_RABCD  3.0
#define TARGET_SCALE_CONNS 10000
#define TARGET_RSS_BYTES   4096.0
/* A victim's p99 round trip beside 100 greedy connections, microseconds. */
#define TARGET_FAIR_P99_US 2000.0
/* A RabcServer answering from a C ::handle-request handler, as ratios to
 * the same server answering with its reply property. */
#define TARGET_HANDLER_LATENCY    1.10
#define TARGET_HANDLER_THROUGHPUT 0.9
/* The connections of the handler's throughput case. */
#define HANDLER_LOAD_CONNS 100

typedef enum {
  SERVER_RAW,
  SERVER_RABCD,
  /* Every client, load and fairness case runs against the servers above;
   * only send_sync and the load of HANDLER_LOAD_CONNS against these. */
  SERVER_FIXED,       /* a RabcServer without handlers: rabc-bench --service */
  SERVER_HANDLER,     /* the same with a C handler: --service --handler */
  SERVER_PY_HANDLER,  /* a Rabc.Server with a Python handler: py-service.py */
  /* Only the GDBus clients, and the GDBus load generator, against this. */
  SERVER_GDBUS,       /* a GDBusServer: rabc-bench --gdbus-server */
  /* Answering with the request itself, so that both directions are large:
   * latency of the raw client and of send_sync only. */
  SERVER_RAW_ECHO,    /* rabc-bench --raw-server --echo */
  SERVER_RABCD_ECHO,  /* rabcd --echo */
  N_SERVERS
} ServerKind;

static gboolean
server_echoes (ServerKind s)
{
  return s == SERVER_RAW_ECHO || s == SERVER_RABCD_ECHO;
}

#define N_MATRIX_SERVERS (SERVER_RABCD + 1)

static const char *const server_names[N_SERVERS] = {
  "raw", "rabcd", "fixed", "handler", "py-handler", "gdbus", "raw-echo", "rabcd-echo",
};

static const char *const server_labels[N_SERVERS] = {
  "raw epoll server",
  "rabcd",
  "fixed reply, no handler (C)",
  "handle-request handler (C)",
  "handle-request handler (Python)",
  "GDBus peer to peer",
  "raw epoll server, echo",
  "rabcd --echo",
};

typedef enum {
  CLIENT_RAW,
  CLIENT_SYNC,
  CLIENT_ASYNC,
  CLIENT_PYTHON,
  /* Against SERVER_GDBUS only. */
  CLIENT_GDBUS,
  CLIENT_PY_GDBUS,
  N_CLIENTS
} ClientKind;

static const char *const client_names[N_CLIENTS] = {
  "raw C client, blocking write/read",
  "rabc_client_send_sync (C)",
  "rabc_client_send_async, GMainLoop (C)",
  "Client.send_sync, Python through gi",
  "g_dbus_connection_call_sync (C)",
  "Gio.DBusConnection.call_sync (Python)",
};

static const char *const client_ids[N_CLIENTS] = {
  "raw-client", "c-send-sync", "c-send-async", "python-send-sync",
  "c-gdbus-call-sync", "python-gdbus-call-sync",
};

/* Request sizes: the largest is the longest message a receiver with the
 * default max-message-size (1 MiB) accepts, which refuses a frame whose
 * length is not below it.  Replies are "pong" at every size. */
#define N_SIZES 4
static const gsize sizes[N_SIZES] = { 4, 4096, 65536, 1048575 };
static const char *const size_labels[N_SIZES] = { "4 B", "4 KiB", "64 KiB", "1 MiB - 1" };
/* Round trips at each size are the plan's divided by this. */
static const guint size_divisors[N_SIZES] = { 1, 1, 4, 40 };
#define SIZE_4B  0
#define SIZE_64K 2
static gboolean size_selected[N_SIZES];
static char *request_messages[N_SIZES];
static guint8 *request_frames[N_SIZES];

static gboolean
client_is_python (ClientKind k)
{
  return k == CLIENT_PYTHON || k == CLIENT_PY_GDBUS;
}

/* The target of a latency case, as a ratio to the raw baseline at the same
 * size; 0 for none. */
static double
latency_target (ClientKind k,
                ServerKind s,
                guint      size)
{
  gboolean small = size == SIZE_4B, large = size == SIZE_64K;

  switch (k)
    {
    case CLIENT_RAW:
      if (s == SERVER_RABCD)
        return small ? 1.15 : large ? 1.5 : 0;
      return 0;
    case CLIENT_SYNC:
      if (s == SERVER_RAW)
        return small ? 1.05 : large ? 1.3 : 0;
      if (s == SERVER_RABCD)
        return small ? 1.25 : large ? 1.8 : 0;
      return 0;
    case CLIENT_ASYNC:
      return small && s < N_MATRIX_SERVERS ? 1.5 : 0;
    case CLIENT_PYTHON:
      if (s == SERVER_RAW)
        return small ? 2.0 : 0;
      if (s == SERVER_RABCD)
        return small ? 1.35 : large ? 2.5 : 0;
      return 0;
    case CLIENT_GDBUS:
    case CLIENT_PY_GDBUS:
    case N_CLIENTS:
    default:
      return 0;
    }
}

/* Options. */
static gboolean opt_quick;
static char *opt_rabcd;
static char *opt_python;
static char *opt_py_script;
static char *opt_py_service;
static char *opt_json;
static gboolean opt_no_python;
static int opt_iterations = -1;
static int opt_rounds = -1;
static double opt_duration = -1;
static int opt_scale = -1;
static char *opt_raw_server;
static char *opt_service;
static gboolean opt_handler;
static gboolean opt_echo;
static char *opt_pin;
static char *opt_loadgen;
static int opt_conns = 100;
static char *opt_sizes;
static gboolean opt_syscalls;
static char *opt_gdbus_server;
static char *opt_syscall_client;
static char *opt_client_socket;
static int opt_count = 1000;

static const GOptionEntry entries[] = {
  { "quick", 0, 0, G_OPTION_ARG_NONE, &opt_quick,
    "Tiny counts, targets not judged: checks that every case runs", NULL },
  { "rabcd", 0, 0, G_OPTION_ARG_FILENAME, &opt_rabcd,
    "The rabcd to measure (default: the one in this build)", "PATH" },
  { "python", 0, 0, G_OPTION_ARG_FILENAME, &opt_python,
    "A Python 3 with PyGObject (default: " RABC_BENCH_PYTHON ")", "PATH" },
  { "py-script", 0, 0, G_OPTION_ARG_FILENAME, &opt_py_script,
    "The Python latency script (default: bench/py-latency.py of the sources)", "PATH" },
  { "py-service", 0, 0, G_OPTION_ARG_FILENAME, &opt_py_service,
    "The Python handler server (default: bench/py-service.py of the sources)", "PATH" },
  { "no-python", 0, 0, G_OPTION_ARG_NONE, &opt_no_python,
    "Skip the Python cases", NULL },
  { "json", 0, 0, G_OPTION_ARG_FILENAME, &opt_json,
    "Also write the results as JSON to FILE", "FILE" },
  { "iterations", 0, 0, G_OPTION_ARG_INT, &opt_iterations,
    "Round trips per latency case (default: 20000)", "N" },
  { "rounds", 0, 0, G_OPTION_ARG_INT, &opt_rounds,
    "Interleaved rounds the latency cases are split into (default: 20)", "N" },
  { "duration", 0, 0, G_OPTION_ARG_DOUBLE, &opt_duration,
    "Seconds per throughput measurement (default: 1.0)", "S" },
  { "scale", 0, 0, G_OPTION_ARG_INT, &opt_scale,
    "Idle connections in the scale test (default: 10000)", "N" },
  { "pin", 0, 0, G_OPTION_ARG_STRING, &opt_pin,
    "Where processes run: split (clients on one CPU, servers on another; the "
    "default with two CPUs or more), same (all on one CPU) or none", "MODE" },
  { "loadgen", 0, 0, G_OPTION_ARG_FILENAME, &opt_loadgen,
    "Only run the load generator against a server already listening on PATH "
    "(for profiling the server), with --conns and --duration", "PATH" },
  { "conns", 0, 0, G_OPTION_ARG_INT, &opt_conns,
    "Connections for --loadgen (default: 100)", "N" },
  { "size", 0, 0, G_OPTION_ARG_STRING, &opt_sizes,
    "Request sizes in bytes, of 4, 4096, 65536 and 1048575 (default: all); "
    "with --loadgen, the one size of its requests", "N[,N...]" },
  { "syscalls", 0, 0, G_OPTION_ARG_NONE, &opt_syscalls,
    "Only count system calls per round trip with strace -f -c, no timing", NULL },
  { "gdbus-server", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &opt_gdbus_server,
    "Run the GDBus server on PATH (used by the benchmark itself)", "PATH" },
  { "syscall-client", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &opt_syscall_client,
    "Make --count round trips of --size bytes to --client-socket as the client "
    "named (raw-client, c-send-sync, c-send-async, c-gdbus-call-sync)", "CASE" },
  { "client-socket", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &opt_client_socket,
    "The server of --syscall-client", "PATH" },
  { "count", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &opt_count,
    "Round trips of --syscall-client", "N" },
  { "raw-server", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &opt_raw_server,
    "Run the raw epoll server on PATH (used by the benchmark itself)", "PATH" },
  { "service", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &opt_service,
    "Run a RabcServer on PATH (used by the benchmark itself)", "PATH" },
  { "handler", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &opt_handler,
    "With --service: answer from a ::handle-request handler", NULL },
  { "echo", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &opt_echo,
    "With --raw-server: answer every frame with itself", NULL },
  { NULL }
};

typedef struct {
  guint  iterations;     /* per latency case, over all rounds */
  guint  warmup;
  guint  rounds;
  guint  load_rounds;
  double load_warmup_s;
  double load_duration_s;
  guint  scale_conns;
  guint  syscall_count;  /* round trips of the shorter strace run */
} Plan;

/* One size of a latency case. */
typedef struct {
  BenchSamples  samples;
  double        round_p50[MAX_ROUNDS];
  guint         n_round_p50;
  /* CPU time over the recorded round trips; -1 when it could not be read. */
  gint64        client_cpu_ns;
  gint64        server_cpu_ns;
} LatencySize;

typedef struct {
  ClientKind    client;
  ServerKind    server;
  LatencySize   per[N_SIZES];
  gboolean      skipped;
  char         *error;

  /* While open. */
  int           fd;
  RabcClient   *rabc;
  GDBusConnection *gdbus;
  GMainContext *context;
  pid_t         py_pid;
  int           py_in;
  int           py_out;
  GString      *py_pending;
  char         *py_log;
} LatencyCase;

typedef struct {
  ServerKind server;
  guint      n_conns;
  gsize      request_size;
  double     req_per_s[MAX_ROUNDS];
  double     server_cpu[MAX_ROUNDS];
  double     loadgen_cpu[MAX_ROUNDS];
  guint      n_rounds;
  guint64    sent;
  guint64    answered;
  gboolean   skipped;
  char      *error;
} LoadCase;

/* Connections and request size of each throughput case. */
#define N_LOAD_SIZES 4
static const guint load_sizes[N_LOAD_SIZES] = { 1, 100, 1000, 100 };
static const guint load_request_sizes[N_LOAD_SIZES] = { SIZE_4B, SIZE_4B, SIZE_4B, SIZE_64K };
/* The case of the handler and GDBus throughput at 4 B. */
#define LOAD_HANDLER 1
#define MAX_LOAD_CONNS 1000

/* Whether server @s takes part in throughput case @i. */
static gboolean
load_case_applies (ServerKind s,
                   guint      i)
{
  if (!size_selected[load_request_sizes[i]])
    return FALSE;
  if (s < N_MATRIX_SERVERS)
    return TRUE;
  if (s == SERVER_GDBUS)
    return load_sizes[i] == HANDLER_LOAD_CONNS;
  if (server_echoes (s))
    return FALSE;
  return i == LOAD_HANDLER;
}

typedef struct {
  guint        n_greedy;
  BenchSamples victim;
  double       greedy_rate[MAX_ROUNDS];
  guint        n_rounds;
  char        *error;
} FairCase;

#define N_FAIR_SIZES 3
static const guint fair_sizes[N_FAIR_SIZES] = { 0, 1, 100 };
#define FAIR_ROUNDS 3

/* System calls per round trip of a client and its server (--syscalls). */
typedef struct {
  double   client_calls;  /* per round trip */
  double   server_calls;
  char    *client_detail; /* the calls that make them up, "read 1, write 1" */
  char    *server_detail;
  gboolean ran;
  gboolean skipped;
  char    *error;
} SyscallCase;

static const struct {
  ClientKind client;
  ServerKind server;
} syscall_pairs[] = {
  { CLIENT_RAW, SERVER_RAW },
  { CLIENT_RAW, SERVER_RABCD },
  { CLIENT_SYNC, SERVER_RAW },
  { CLIENT_SYNC, SERVER_RABCD },
  { CLIENT_ASYNC, SERVER_RABCD },
  { CLIENT_PYTHON, SERVER_RABCD },
  { CLIENT_GDBUS, SERVER_GDBUS },
  { CLIENT_PY_GDBUS, SERVER_GDBUS },
};
#define N_SYSCALL_PAIRS G_N_ELEMENTS (syscall_pairs)

typedef struct {
  Plan             plan;
  char            *tmpdir;
  char            *self_exe;
  char            *rabcd;
  char            *python;
  char            *py_script;
  char            *py_service;
  char            *socket_paths[N_SERVERS];
  char            *log_paths[N_SERVERS];
  pid_t            server_pids[N_SERVERS];
  const char      *pin_mode;
  int              client_cpu;
  int              server_cpu;
  struct rlimit    original_nofile;
  struct rlimit    raised_nofile;
  double           loadavg_start[3];
  double           loadavg_end[3];

  LatencyCase      latency[N_CLIENTS][N_SERVERS];
  LoadCase         load[N_LOAD_SIZES][N_SERVERS];
  SyscallCase      syscalls[N_SYSCALL_PAIRS][N_SIZES];
  gboolean         syscalls_ran;
  char            *strace;
  FairCase         fair[N_FAIR_SIZES][N_MATRIX_SERVERS];
  BenchScaleResult scale;
  gboolean         scale_ran;
  char            *scale_error;
  int              rabcd_exit_status;
  char            *server_error;
} Bench;

/* Files the signal handler removes. */
#define MAX_CLEANUP 16
static char cleanup_files[MAX_CLEANUP][PATH_MAX];
static char cleanup_dir[PATH_MAX];

static void
register_cleanup (const char *path)
{
  for (guint i = 0; i < MAX_CLEANUP; i++)
    if (cleanup_files[i][0] == '\0')
      {
        g_strlcpy (cleanup_files[i], path, PATH_MAX);
        return;
      }
}

static void
cleanup_now (void)
{
  bench_kill_all_children ();
  for (guint i = 0; i < MAX_CLEANUP; i++)
    if (cleanup_files[i][0] != '\0')
      unlink (cleanup_files[i]);
  if (cleanup_dir[0] != '\0')
    rmdir (cleanup_dir);
}

static void
on_fatal_signal (int signum)
{
  cleanup_now ();
  signal (signum, SIG_DFL);
  raise (signum);
}

static void
read_loadavg (double avg[3])
{
  g_autofree char *contents = NULL;

  avg[0] = avg[1] = avg[2] = NAN;
  if (g_file_get_contents ("/proc/loadavg", &contents, NULL, NULL))
    sscanf (contents, "%lf %lf %lf", &avg[0], &avg[1], &avg[2]);
}

static char *
tail_of_file (const char *path,
              gsize       max)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (path == NULL || !g_file_get_contents (path, &contents, &len, NULL) || len == 0)
    return g_strdup ("");
  g_strchomp (contents);
  len = strlen (contents);
  return g_strdup (len > max ? contents + len - max : contents);
}

/* Servers. */

static char **python_environment (void);

/* Starts server @kind on a socket named after @name; under strace -f -c
 * writing to @strace_out unless that is NULL. */
static gboolean
start_server_traced (Bench       *bench,
                     ServerKind   kind,
                     const char  *name,
                     const char  *strace_out,
                     GError     **error)
{
  g_autofree char *max_clients = NULL;
  g_auto(GStrv) envp = NULL;
  const char *traced_argv[16];
  const char **argv = traced_argv;
  int log_fd;
  pid_t pid;

  if (strace_out != NULL)
    {
      traced_argv[0] = bench->strace;
      traced_argv[1] = "-f";
      traced_argv[2] = "-c";
      traced_argv[3] = "-o";
      traced_argv[4] = strace_out;
      traced_argv[5] = "--";
      argv = traced_argv + 6;
    }

  g_free (bench->socket_paths[kind]);
  g_free (bench->log_paths[kind]);
  bench->socket_paths[kind] = g_strdup_printf ("%s/%s.sock", bench->tmpdir, name);
  bench->log_paths[kind] = g_strdup_printf ("%s/%s.log", bench->tmpdir, name);
  register_cleanup (bench->socket_paths[kind]);
  register_cleanup (bench->log_paths[kind]);

  log_fd = open (bench->log_paths[kind], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (kind == SERVER_RAW || kind == SERVER_RAW_ECHO)
    {
      argv[0] = bench->self_exe;
      argv[1] = "--raw-server";
      argv[2] = bench->socket_paths[kind];
      argv[3] = kind == SERVER_RAW_ECHO ? "--echo" : NULL;
      argv[4] = NULL;
    }
  else if (kind == SERVER_FIXED || kind == SERVER_HANDLER)
    {
      argv[0] = bench->self_exe;
      argv[1] = "--service";
      argv[2] = bench->socket_paths[kind];
      argv[3] = kind == SERVER_HANDLER ? "--handler" : NULL;
      argv[4] = NULL;
    }
  else if (kind == SERVER_GDBUS)
    {
      argv[0] = bench->self_exe;
      argv[1] = "--gdbus-server";
      argv[2] = bench->socket_paths[kind];
      argv[3] = NULL;
    }
  else if (kind == SERVER_PY_HANDLER)
    {
      envp = python_environment ();
      argv[0] = bench->python;
      argv[1] = bench->py_service;
      argv[2] = "--socket";
      argv[3] = bench->socket_paths[kind];
      argv[4] = NULL;
    }
  else
    {
      /* Every connection of the benchmark is one user's: the limits on
       * clients are raised to what it opens, or rabcd would refuse all
       * but 256 of them. */
      max_clients = g_strdup_printf ("%u", MAX (bench->plan.scale_conns, MAX_LOAD_CONNS) + 16);
      argv[0] = bench->rabcd;
      argv[1] = "--socket";
      argv[2] = bench->socket_paths[kind];
      argv[3] = "--max-clients";
      argv[4] = max_clients;
      argv[5] = "--max-clients-per-uid";
      argv[6] = max_clients;
      argv[7] = kind == SERVER_RABCD_ECHO ? "--echo" : NULL;
      argv[8] = NULL;
    }

  /* The servers built on RabcServer get the descriptor limit the
   * benchmark itself was given, not the raised one: raising its own is
   * their job. */
  pid = bench_spawn (&(BenchSpawn) {
                       .argv = traced_argv,
                       .envp = envp,
                       .stdin_fd = -1,
                       .stdout_fd = log_fd,
                       .stderr_fd = log_fd,
                       .nofile = kind != SERVER_RAW && kind != SERVER_RAW_ECHO
                                 ? &bench->original_nofile : NULL,
                       .cpu = bench->server_cpu,
                     }, error);
  if (log_fd >= 0)
    close (log_fd);
  if (pid < 0)
    return FALSE;
  bench->server_pids[kind] = pid;

  if (!bench_wait_for_listener (bench->socket_paths[kind], pid, 10000, error))
    {
      g_autofree char *log = tail_of_file (bench->log_paths[kind], 400);

      g_prefix_error (error, "%s: ", argv[0]);
      if (log[0] != '\0')
        g_prefix_error (error, "%s [log: %s]: ", name, log);
      bench_stop_child (pid, 1000);
      bench->server_pids[kind] = 0;
      return FALSE;
    }
  return TRUE;
}

static gboolean
start_server (Bench       *bench,
              ServerKind   kind,
              const char  *name,
              GError     **error)
{
  return start_server_traced (bench, kind, name, NULL, error);
}

/* Stops a server by its PID; rabcd stops cleanly on SIGTERM, so anything
 * else is recorded as a finding. */
static void
stop_server (Bench      *bench,
             ServerKind  kind)
{
  const char *name = kind == SERVER_RABCD || kind == SERVER_RABCD_ECHO ? bench->rabcd
                   : kind == SERVER_PY_HANDLER ? bench->py_service
                   : kind == SERVER_RAW ? "the raw server"
                   : kind == SERVER_RAW_ECHO ? "the raw echo server"
                   : kind == SERVER_HANDLER ? "the RabcServer with a handler"
                   : kind == SERVER_GDBUS ? "the GDBus server"
                   : "the RabcServer without handlers";
  int status;

  if (bench->server_pids[kind] <= 0)
    return;

  status = bench_stop_child (bench->server_pids[kind], 3000);
  bench->server_pids[kind] = 0;

  if (status == -1 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      g_autofree char *log = tail_of_file (bench->log_paths[kind], 400);
      g_autofree char *old = bench->server_error;
      g_autofree char *how = status == -1 ? g_strdup ("had already gone")
                           : WIFSIGNALED (status) ? g_strdup_printf ("died of signal %d", WTERMSIG (status))
                           : g_strdup_printf ("exited with status %d", WEXITSTATUS (status));

      bench->server_error = g_strdup_printf ("%s%s%s did not stop cleanly on SIGTERM: "
                                             "it %s [log: %s]",
                                             old ? old : "", old ? "; " : "",
                                             name, how, log);
    }
}

/* Latency cases. */

/* Against an echo server: the reply is the request, read whole. */
static gboolean
raw_echo_round_trips (LatencyCase  *c,
                      guint         size,
                      guint         n,
                      gboolean      record,
                      GError      **error)
{
  gsize frame_size = BENCH_FRAME_HEADER_SIZE + sizes[size];
  g_autofree guint8 *reply = g_malloc (frame_size);

  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();
      gsize have = 0;

      if (!bench_write_all (c->fd, request_frames[size], frame_size))
        goto broken;
      while (have < frame_size)
        {
          ssize_t got = read (c->fd, reply + have, frame_size - have);

          if (got < 0 && errno == EINTR)
            continue;
          if (got <= 0)
            goto broken;
          have += got;
        }
      if (record)
        bench_samples_add (&c->per[size].samples, bench_now_ns () - start);
      if (memcmp (reply, request_frames[size], frame_size) != 0)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "the reply is not the request echoed");
          return FALSE;
        }
    }
  return TRUE;

broken:
  {
    int errsv = errno;
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                 "the connection broke: %s", g_strerror (errsv));
    return FALSE;
  }
}

static gboolean
raw_round_trips (LatencyCase  *c,
                 guint         size,
                 guint         n,
                 gboolean      record,
                 GError      **error)
{
  if (server_echoes (c->server))
    return raw_echo_round_trips (c, size, n, record, error);

  for (guint i = 0; i < n; i++)
    {
      BenchReplyScanner scanner = { 0 };
      guint8 buffer[64];
      gint64 start = bench_now_ns ();
      int replies = 0;

      /* Blocking: a large request goes out in as many writes as it takes. */
      if (!bench_write_all (c->fd, request_frames[size], BENCH_FRAME_HEADER_SIZE + sizes[size]))
        goto broken;
      while (replies == 0)
        {
          ssize_t got = read (c->fd, buffer, sizeof buffer);

          if (got < 0 && errno == EINTR)
            continue;
          if (got <= 0)
            goto broken;
          replies = bench_reply_scanner_feed (&scanner, buffer, got);
          if (replies < 0 || replies > 1 || (replies == 1 && !bench_reply_scanner_idle (&scanner)))
            {
              g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                   "the reply is not one \"pong\" frame");
              return FALSE;
            }
        }
      if (record)
        bench_samples_add (&c->per[size].samples, bench_now_ns () - start);
    }
  return TRUE;

broken:
  {
    int errsv = errno;
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                 "the connection broke: %s", g_strerror (errsv));
    return FALSE;
  }
}

static gboolean
sync_round_trips (LatencyCase  *c,
                  guint         size,
                  guint         n,
                  gboolean      record,
                  GError      **error)
{
  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();
      g_autofree char *reply = rabc_client_send_sync (c->rabc, request_messages[size], NULL, error);
      gint64 end = bench_now_ns ();

      if (reply == NULL)
        return FALSE;
      if (strcmp (reply, server_echoes (c->server) ? request_messages[size] : "pong") != 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "unexpected reply \"%.40s\"", reply);
          return FALSE;
        }
      if (record)
        bench_samples_add (&c->per[size].samples, end - start);
    }
  return TRUE;
}

static gboolean
gdbus_round_trips (LatencyCase  *c,
                   guint         size,
                   guint         n,
                   gboolean      record,
                   GError      **error)
{
  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();

      if (!bench_gdbus_ping_sync (c->gdbus, request_messages[size], error))
        return FALSE;
      if (record)
        bench_samples_add (&c->per[size].samples, bench_now_ns () - start);
    }
  return TRUE;
}

typedef struct {
  LatencyCase *c;
  guint        size;
  GMainLoop   *loop;
  guint        remaining;
  gboolean     record;
  gint64       start;
  GError      *error;
} AsyncRun;

static void
on_async_reply (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  AsyncRun *run = user_data;
  gint64 end = bench_now_ns ();
  g_autofree char *reply = rabc_client_send_finish (RABC_CLIENT (source), result, &run->error);

  if (reply == NULL)
    {
      g_main_loop_quit (run->loop);
      return;
    }
  if (strcmp (reply, "pong") != 0)
    {
      g_set_error (&run->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "unexpected reply \"%s\"", reply);
      g_main_loop_quit (run->loop);
      return;
    }
  if (run->record)
    bench_samples_add (&run->c->per[run->size].samples, end - run->start);

  if (--run->remaining == 0)
    {
      g_main_loop_quit (run->loop);
      return;
    }

  /* The next request goes out from the callback. */
  run->start = bench_now_ns ();
  rabc_client_send_async (run->c->rabc, request_messages[run->size], NULL, on_async_reply, run);
}

static gboolean
async_round_trips (LatencyCase  *c,
                   guint         size,
                   guint         n,
                   gboolean      record,
                   GError      **error)
{
  AsyncRun run = { .c = c, .size = size, .remaining = n, .record = record };

  if (n == 0)
    return TRUE;

  g_main_context_push_thread_default (c->context);
  run.loop = g_main_loop_new (c->context, FALSE);
  run.start = bench_now_ns ();
  rabc_client_send_async (c->rabc, request_messages[size], NULL, on_async_reply, &run);
  g_main_loop_run (run.loop);
  g_main_loop_unref (run.loop);
  g_main_context_pop_thread_default (c->context);

  if (run.error != NULL)
    {
      g_propagate_error (error, run.error);
      return FALSE;
    }
  return TRUE;
}

static char *
py_read_line (LatencyCase  *c,
              guint         timeout_ms,
              GError      **error)
{
  gint64 deadline = bench_now_ns () + (gint64) timeout_ms * 1000000;

  for (;;)
    {
      char *newline = memchr (c->py_pending->str, '\n', c->py_pending->len);
      struct pollfd pfd = { .fd = c->py_out, .events = POLLIN };
      char buffer[65536];
      gint64 remaining;
      ssize_t got;

      if (newline != NULL)
        {
          char *line = g_strndup (c->py_pending->str, newline - c->py_pending->str);

          g_string_erase (c->py_pending, 0, newline - c->py_pending->str + 1);
          return line;
        }

      remaining = (deadline - bench_now_ns ()) / 1000000;
      if (remaining <= 0 || poll (&pfd, 1, (int) remaining) == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "the Python client did not answer within %u ms", timeout_ms);
          return NULL;
        }

      got = read (c->py_out, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        {
          g_autofree char *log = tail_of_file (c->py_log, 600);

          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       "the Python client exited: %s", log);
          return NULL;
        }
      g_string_append_len (c->py_pending, buffer, got);
    }
}

/* Adds the integers of the "samples_ns" array of @line; returns how many. */
static gssize
parse_samples (const char   *line,
               BenchSamples *samples)
{
  const char *p = strstr (line, "\"samples_ns\"");
  gssize n = 0;

  if (p == NULL || (p = strchr (p, '[')) == NULL)
    return -1;
  p++;

  for (;;)
    {
      char *end;
      gint64 value;

      while (*p == ' ' || *p == ',' || *p == '\n')
        p++;
      if (*p == ']')
        return n;

      errno = 0;
      value = g_ascii_strtoll (p, &end, 10);
      if (end == p || errno != 0)
        return -1;
      if (samples != NULL)
        bench_samples_add (samples, value);
      n++;
      p = end;
    }
}

static gboolean
python_round_trips (LatencyCase  *c,
                    guint         size,
                    guint         n,
                    gboolean      record,
                    GError      **error)
{
  g_autofree char *command = g_strdup_printf ("%s %u %" G_GSIZE_FORMAT "\n",
                                              record ? "run" : "warmup", n, sizes[size]);
  g_autofree char *line = NULL;
  gssize got;

  if (n == 0)
    return TRUE;

  if (!bench_write_all (c->py_in, (const guint8 *) command, strlen (command)))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                           "cannot write to the Python client");
      return FALSE;
    }

  line = py_read_line (c, 60000 + n * (1 + sizes[size] / 4096), error);
  if (line == NULL)
    return FALSE;

  got = parse_samples (line, record ? &c->per[size].samples : NULL);
  if (got < 0 || (record && (guint) got != n))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "unexpected answer from the Python client: %.200s", line);
      return FALSE;
    }
  return TRUE;
}

static gboolean
latency_round_trips (LatencyCase  *c,
                     guint         size,
                     guint         n,
                     gboolean      record,
                     GError      **error)
{
  switch (c->client)
    {
    case CLIENT_RAW:
      return raw_round_trips (c, size, n, record, error);
    case CLIENT_SYNC:
      return sync_round_trips (c, size, n, record, error);
    case CLIENT_ASYNC:
      return async_round_trips (c, size, n, record, error);
    case CLIENT_PYTHON:
    case CLIENT_PY_GDBUS:
      return python_round_trips (c, size, n, record, error);
    case CLIENT_GDBUS:
      return gdbus_round_trips (c, size, n, record, error);
    case N_CLIENTS:
    default:
      g_assert_not_reached ();
    }
}

static char **
python_environment (void)
{
  char **envp = g_get_environ ();
  g_autofree char *typelib = g_build_filename (RABC_BENCH_BUILD_ROOT, "gir",
                                               "Rabc-1.0.typelib", NULL);

  /* The uninstalled library of this build comes first. */
  if (RABC_BENCH_BUILD_ROOT[0] != '\0' && g_file_test (typelib, G_FILE_TEST_EXISTS))
    {
      const char *vars[2][2] = {
        { "GI_TYPELIB_PATH", RABC_BENCH_BUILD_ROOT "/gir" },
        { "LD_LIBRARY_PATH", RABC_BENCH_BUILD_ROOT "/src" },
      };

      for (guint i = 0; i < G_N_ELEMENTS (vars); i++)
        {
          const char *old = g_environ_getenv (envp, vars[i][0]);
          g_autofree char *value = old != NULL && old[0] != '\0'
                                 ? g_strconcat (vars[i][1], ":", old, NULL)
                                 : g_strdup (vars[i][1]);

          envp = g_environ_setenv (envp, vars[i][0], value, TRUE);
        }
    }
  envp = g_environ_setenv (envp, "PYTHONDONTWRITEBYTECODE", "1", TRUE);
  envp = g_environ_unsetenv (envp, "PYTHONSTARTUP");
  return envp;
}

static gboolean
python_open (Bench        *bench,
             LatencyCase  *c,
             const char   *socket_path,
             GError      **error)
{
  g_auto(GStrv) envp = python_environment ();
  const char *argv[] = { bench->python, bench->py_script, "--socket", socket_path, "--serve",
                         c->client == CLIENT_PY_GDBUS ? "--gdbus" : NULL, NULL };
  g_autofree char *line = NULL;
  int to_child[2], from_child[2];
  int log_fd;

  c->py_log = g_strdup_printf ("%s/%s-%s.log", bench->tmpdir, client_ids[c->client],
                               server_names[c->server]);
  register_cleanup (c->py_log);
  if (pipe2 (to_child, O_CLOEXEC) < 0)
    goto pipe_failed;
  if (pipe2 (from_child, O_CLOEXEC) < 0)
    {
      close (to_child[0]);
      close (to_child[1]);
      goto pipe_failed;
    }

  log_fd = open (c->py_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  c->py_pid = bench_spawn (&(BenchSpawn) {
                             .argv = argv,
                             .envp = envp,
                             .stdin_fd = to_child[0],
                             .stdout_fd = from_child[1],
                             .stderr_fd = log_fd,
                             .cpu = bench->client_cpu,
                           }, error);
  close (to_child[0]);
  close (from_child[1]);
  if (log_fd >= 0)
    close (log_fd);
  c->py_in = to_child[1];
  c->py_out = from_child[0];
  c->py_pending = g_string_new (NULL);
  if (c->py_pid < 0)
    return FALSE;

  line = py_read_line (c, 30000, error);
  if (line == NULL)
    return FALSE;
  if (strstr (line, "\"ready\"") == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "unexpected first line from the Python client: %.200s", line);
      return FALSE;
    }
  return TRUE;

pipe_failed:
  {
    int errsv = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                 "pipe: %s", g_strerror (errsv));
    return FALSE;
  }
}

static gboolean
latency_open (Bench        *bench,
              LatencyCase  *c,
              GError      **error)
{
  const char *path = bench->socket_paths[c->server];

  c->fd = -1;
  c->py_in = c->py_out = -1;

  switch (c->client)
    {
    case CLIENT_RAW:
      c->fd = bench_connect_blocking (path, error);
      return c->fd >= 0;

    case CLIENT_SYNC:
    case CLIENT_ASYNC:
      /* Each client on a context of its own: the async loop polls only
       * what it needs. */
      c->context = g_main_context_new ();
      g_main_context_push_thread_default (c->context);
      c->rabc = rabc_client_new_sync (path, NULL, error);
      g_main_context_pop_thread_default (c->context);
      if (c->rabc == NULL)
        return FALSE;
      /* No automatic pings in the request stream. */
      rabc_client_set_ping_interval (c->rabc, 0);
      return TRUE;

    case CLIENT_PYTHON:
    case CLIENT_PY_GDBUS:
      return python_open (bench, c, path, error);

    case CLIENT_GDBUS:
      c->gdbus = bench_gdbus_connect (path, error);
      return c->gdbus != NULL;

    case N_CLIENTS:
    default:
      g_assert_not_reached ();
    }
}

static void
latency_close (LatencyCase *c)
{
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  if (c->rabc != NULL)
    {
      rabc_client_close (c->rabc);
      g_clear_object (&c->rabc);
    }
  g_clear_pointer (&c->context, g_main_context_unref);
  if (c->gdbus != NULL)
    {
      g_dbus_connection_close_sync (c->gdbus, NULL, NULL);
      g_clear_object (&c->gdbus);
    }
  if (c->py_in >= 0)
    close (c->py_in);  /* EOF: the script closes its client and exits */
  c->py_in = -1;
  if (c->py_pid > 0)
    {
      gint64 deadline = bench_now_ns () + G_GINT64_CONSTANT (5000000000);
      int status;

      while (waitpid (c->py_pid, &status, WNOHANG) == 0 && bench_now_ns () < deadline)
        g_usleep (5000);
      bench_stop_child (c->py_pid, 1000);
    }
  c->py_pid = 0;
  if (c->py_out >= 0)
    close (c->py_out);
  c->py_out = -1;
  if (c->py_pending != NULL)
    g_string_free (c->py_pending, TRUE);
  c->py_pending = NULL;
}

static gboolean
case_usable (LatencyCase *c)
{
  return !c->skipped && c->error == NULL;
}

static void
latency_fail (LatencyCase *c,
              GError      *error)
{
  c->error = g_strdup (error->message);
  g_printerr ("rabc-bench: %s against %s: %s\n",
              client_names[c->client], server_names[c->server], error->message);
  latency_close (c);
}

/* Whether latency case @c runs at size @size: the handler cases at 4 B
 * only, every other one at every size chosen. */
static gboolean
latency_runs_size (const LatencyCase *c,
                   guint              size)
{
  if (!size_selected[size])
    return FALSE;
  return size == SIZE_4B || c->server < N_MATRIX_SERVERS || c->server == SERVER_GDBUS ||
         server_echoes (c->server);
}

static gboolean
latency_case_applies (ClientKind k,
                      ServerKind s)
{
  if (s < N_MATRIX_SERVERS)
    return k <= CLIENT_PYTHON;
  if (s == SERVER_GDBUS)
    return k == CLIENT_GDBUS || k == CLIENT_PY_GDBUS;
  if (server_echoes (s))
    return k == CLIENT_RAW || k == CLIENT_SYNC;
  return k == CLIENT_SYNC;
}

/* CPU time of the client of @c so far: this process for the C clients
 * (their threads included), the Python process for the Python ones. */
static gint64
latency_client_cpu_ns (LatencyCase *c)
{
  return client_is_python (c->client) ? bench_proc_cpu_ns (c->py_pid) : bench_self_cpu_ns ();
}

static void
run_latency (Bench *bench)
{
  const Plan *plan = &bench->plan;
  LatencyCase *cases[N_CLIENTS * N_SERVERS];
  guint n_cases = 0;

  for (ClientKind k = 0; k < N_CLIENTS; k++)
    for (ServerKind s = 0; s < N_SERVERS; s++)
      {
        LatencyCase *c = &bench->latency[k][s];
        g_autoptr(GError) error = NULL;
        gboolean any_size = FALSE;

        c->client = k;
        c->server = s;
        /* Closed by latency_close () even if never opened. */
        c->fd = c->py_in = c->py_out = -1;
        if (!latency_case_applies (k, s))
          continue;
        for (guint z = 0; z < N_SIZES; z++)
          any_size |= latency_runs_size (c, z);
        if (!any_size)
          continue;
        cases[n_cases++] = c;

        if ((client_is_python (k) || s == SERVER_PY_HANDLER) && opt_no_python)
          {
            c->skipped = TRUE;
            continue;
          }
        if (bench->server_pids[s] <= 0)
          {
            c->error = g_strdup_printf ("the %s server is not running", server_names[s]);
            continue;
          }

        if (!latency_open (bench, c, &error))
          {
            latency_fail (c, error);
            continue;
          }
        for (guint z = 0; z < N_SIZES && c->error == NULL; z++)
          if (latency_runs_size (c, z) &&
              !latency_round_trips (c, z, MAX (plan->warmup / size_divisors[z], 2), FALSE, &error))
            latency_fail (c, error);
      }

  /* Interleaved: each round runs every case, starting one further along,
   * so that a noisy moment spreads over all of them. */
  for (guint r = 0; r < plan->rounds; r++)
    for (guint i = 0; i < n_cases; i++)
      for (guint z = 0; z < N_SIZES; z++)
        {
          LatencyCase *c = cases[(i + r) % n_cases];
          LatencySize *per = &c->per[z];
          guint per_round = MAX (plan->iterations / size_divisors[z] / plan->rounds, 1);
          g_autoptr(GError) error = NULL;
          BenchSamples round = { 0 };
          gsize first = per->samples.len;
          gint64 client_before, server_before, client_after, server_after;

          if (!case_usable (c) || !latency_runs_size (c, z))
            continue;

          client_before = latency_client_cpu_ns (c);
          server_before = bench_proc_cpu_ns (bench->server_pids[c->server]);
          if (!latency_round_trips (c, z, per_round, TRUE, &error))
            {
              latency_fail (c, error);
              continue;
            }
          client_after = latency_client_cpu_ns (c);
          server_after = bench_proc_cpu_ns (bench->server_pids[c->server]);
          if (per->client_cpu_ns >= 0)
            per->client_cpu_ns = client_before >= 0 && client_after >= 0
                               ? per->client_cpu_ns + client_after - client_before : -1;
          if (per->server_cpu_ns >= 0)
            per->server_cpu_ns = server_before >= 0 && server_after >= 0
                               ? per->server_cpu_ns + server_after - server_before : -1;

          /* The p50 of this round alone, to show the noise between rounds. */
          round.len = per->samples.len - first;
          round.values = g_memdup2 (per->samples.values + first, round.len * sizeof (gint64));
          if (per->n_round_p50 < MAX_ROUNDS)
            per->round_p50[per->n_round_p50++] = bench_samples_percentile (&round, 50);
          bench_samples_clear (&round);
        }

  for (guint i = 0; i < n_cases; i++)
    latency_close (cases[i]);
}

static void
run_load (Bench *bench)
{
  const Plan *plan = &bench->plan;

  for (guint r = 0; r < plan->load_rounds; r++)
    for (guint i = 0; i < N_LOAD_SIZES; i++)
      for (guint j = 0; j < N_SERVERS; j++)
        {
          /* Alternate which server goes first. */
          ServerKind s = (j + r) % N_SERVERS;
          LoadCase *c = &bench->load[i][s];
          g_autoptr(GError) error = NULL;
          BenchLoadResult result;
          gboolean ran;

          c->server = s;
          c->n_conns = load_sizes[i];
          c->request_size = sizes[load_request_sizes[i]];
          if (!load_case_applies (s, i))
            continue;
          if (s == SERVER_PY_HANDLER && opt_no_python)
            c->skipped = TRUE;
          if (c->error != NULL || c->skipped)
            continue;
          if (bench->server_pids[s] <= 0)
            {
              c->error = g_strdup_printf ("the %s server is not running", server_names[s]);
              continue;
            }

          if (s == SERVER_GDBUS)
            ran = bench_gdbus_load_run (bench->socket_paths[s], bench->server_pids[s], c->n_conns,
                                        c->request_size, plan->load_warmup_s,
                                        plan->load_duration_s, &result, &error);
          else
            ran = bench_load_run (bench->socket_paths[s], bench->server_pids[s], c->n_conns,
                                  c->request_size, plan->load_warmup_s, plan->load_duration_s,
                                  &result, &error);
          if (!ran)
            {
              c->error = g_strdup (error->message);
              g_printerr ("rabc-bench: throughput of %s with %u connections: %s\n",
                          server_names[s], c->n_conns, error->message);
            }
          c->sent += result.sent;
          c->answered += result.answered;
          if (c->error == NULL && c->n_rounds < MAX_ROUNDS)
            {
              c->req_per_s[c->n_rounds] = result.req_per_s;
              c->server_cpu[c->n_rounds] = result.server_cpu;
              c->loadgen_cpu[c->n_rounds] = result.loadgen_cpu;
              c->n_rounds++;
            }
        }
}

static void
run_fairness (Bench *bench)
{
  const Plan *plan = &bench->plan;

  for (guint r = 0; r < MIN (plan->load_rounds, FAIR_ROUNDS); r++)
    for (guint i = 0; i < N_FAIR_SIZES; i++)
      for (guint j = 0; j < N_MATRIX_SERVERS; j++)
        {
          ServerKind s = (j + r) % N_MATRIX_SERVERS;
          FairCase *c = &bench->fair[i][s];
          g_autoptr(GError) error = NULL;
          BenchFairnessResult result;

          c->n_greedy = fair_sizes[i];
          if (c->error != NULL)
            continue;
          if (bench->server_pids[s] <= 0)
            {
              c->error = g_strdup_printf ("the %s server is not running", server_names[s]);
              continue;
            }
          if (!bench_fairness_run (bench->socket_paths[s], bench->server_pids[s], c->n_greedy,
                                   plan->load_duration_s, &c->victim, &result, &error))
            {
              c->error = g_strdup (error->message);
              g_printerr ("rabc-bench: fairness of %s beside %u greedy connections: %s\n",
                          server_names[s], c->n_greedy, error->message);
              continue;
            }
          if (c->n_rounds < MAX_ROUNDS)
            c->greedy_rate[c->n_rounds++] = result.greedy_replies_per_s;
        }
}

static void
run_scale (Bench *bench)
{
  g_autoptr(GError) error = NULL;
  ServerKind s = SERVER_RABCD;
  int warm_fds[16];

  /* A fresh daemon: one that served the throughput runs has free heap for
   * a thousand connections, which would hide the cost of new ones. */
  stop_server (bench, s);
  if (!start_server (bench, s, "rabcd-scale", &error))
    goto failed;

  /* Touch the code and data of a connection's life once, then measure. */
  if (!bench_connect_many (bench->socket_paths[s], warm_fds, G_N_ELEMENTS (warm_fds), 10000, &error))
    goto failed;
  for (guint i = 0; i < G_N_ELEMENTS (warm_fds); i++)
    {
      guint8 buffer[64];
      struct pollfd pfd = { .fd = warm_fds[i], .events = POLLIN };

      bench_write_all (warm_fds[i], bench_ping_frame, BENCH_PING_FRAME_SIZE);
      poll (&pfd, 1, 5000);
      if (read (warm_fds[i], buffer, sizeof buffer) < 0)
        { /* the scale run reports a broken daemon */ }
      close (warm_fds[i]);
    }
  g_usleep (200000);

  bench->scale_ran = TRUE;
  if (!bench_scale_run (bench->socket_paths[s], bench->server_pids[s],
                        bench->plan.scale_conns, &bench->scale, &error))
    goto failed;
  return;

failed:
  {
    g_autofree char *log = tail_of_file (bench->log_paths[s], 400);

    bench->scale_error = g_strdup (error->message);
    if (strstr (log, "Too many open files") != NULL)
      {
        g_autofree char *old = bench->scale_error;
        bench->scale_error =
          g_strdup_printf ("%s; rabcd ran out of descriptors (EMFILE): it was started with "
                           "the soft RLIMIT_NOFILE %lu (hard %lu) and did not raise it",
                           old, (unsigned long) bench->original_nofile.rlim_cur,
                           (unsigned long) bench->original_nofile.rlim_max);
      }
    if (log[0] != '\0')
      {
        g_autofree char *old = bench->scale_error;
        bench->scale_error = g_strdup_printf ("%s [rabcd log: %s]", old, log);
      }
    g_printerr ("rabc-bench: scale: %s\n", bench->scale_error);
  }
}

/* System calls, counted with strace -f -c. */

/* Runs client @k against the server on @path, @count round trips of size
 * @size, under strace writing to @out; waits for it to end. */
static gboolean
syscall_client_run (Bench       *bench,
                    ClientKind   k,
                    const char  *path,
                    guint        size,
                    guint        count,
                    const char  *out,
                    GError     **error)
{
  g_autofree char *count_text = g_strdup_printf ("%u", count);
  g_autofree char *size_text = g_strdup_printf ("%" G_GSIZE_FORMAT, sizes[size]);
  g_autofree char *log_path = g_strdup_printf ("%s/strace-client.log", bench->tmpdir);
  g_auto(GStrv) envp = NULL;
  const char *argv[24] = { bench->strace, "-f", "-c", "-o", out, "--" };
  guint n = 6;
  gint64 deadline = bench_now_ns () + G_GINT64_CONSTANT (300) * 1000000000;
  int log_fd, status = 0;
  pid_t pid;

  if (client_is_python (k))
    {
      envp = python_environment ();
      argv[n++] = bench->python;
      argv[n++] = bench->py_script;
      argv[n++] = "--socket";
      argv[n++] = path;
      argv[n++] = "--iterations";
      argv[n++] = count_text;
      argv[n++] = "--warmup";
      argv[n++] = "0";
      argv[n++] = "--size";
      argv[n++] = size_text;
      if (k == CLIENT_PY_GDBUS)
        argv[n++] = "--gdbus";
    }
  else
    {
      argv[n++] = bench->self_exe;
      argv[n++] = "--syscall-client";
      argv[n++] = client_ids[k];
      argv[n++] = "--client-socket";
      argv[n++] = path;
      argv[n++] = "--count";
      argv[n++] = count_text;
      argv[n++] = "--size";
      argv[n++] = size_text;
    }
  argv[n] = NULL;

  register_cleanup (log_path);
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid = bench_spawn (&(BenchSpawn) {
                       .argv = argv,
                       .envp = envp,
                       .stdin_fd = -1,
                       .stdout_fd = -1,
                       .stderr_fd = log_fd,
                       .cpu = bench->client_cpu,
                     }, error);
  if (log_fd >= 0)
    close (log_fd);
  if (pid < 0)
    return FALSE;

  while (waitpid (pid, &status, WNOHANG) == 0)
    {
      if (bench_now_ns () > deadline)
        {
          bench_stop_child (pid, 1000);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "the client under strace did not end within 300 s");
          return FALSE;
        }
      g_usleep (5000);
    }
  bench_forget_child (pid);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      g_autofree char *log = tail_of_file (log_path, 400);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "the client under strace failed [log: %s]", log);
      return FALSE;
    }
  return TRUE;
}

/* Stops a server started under strace: SIGTERM to the server itself, then
 * strace ends on its own once it has written its table. */
static void
syscall_server_stop (Bench      *bench,
                     ServerKind  s)
{
  pid_t strace_pid = bench->server_pids[s];
  pid_t server = bench_first_child (strace_pid);
  gint64 deadline = bench_now_ns () + G_GINT64_CONSTANT (10) * 1000000000;
  int status;

  if (server > 0)
    kill (server, SIGTERM);
  for (;;)
    {
      pid_t r = waitpid (strace_pid, &status, WNOHANG);

      if (r == strace_pid)
        {
          bench_forget_child (strace_pid);
          break;
        }
      if (r < 0 || bench_now_ns () > deadline)
        {
          bench_stop_child (strace_pid, 1000);
          break;
        }
      g_usleep (5000);
    }
  bench->server_pids[s] = 0;
}

/* One run of pair @i at @size with @count round trips: the calls of each
 * side. */
static gboolean
syscall_pair_run (Bench       *bench,
                  guint        i,
                  guint        size,
                  guint        count,
                  GHashTable **client_calls,
                  GHashTable **server_calls,
                  GError     **error)
{
  ServerKind s = syscall_pairs[i].server;
  g_autofree char *server_out = g_strdup_printf ("%s/strace-server.txt", bench->tmpdir);
  g_autofree char *client_out = g_strdup_printf ("%s/strace-client.txt", bench->tmpdir);
  g_autofree char *name = g_strdup_printf ("strace-%s", server_names[s]);
  gboolean ok;

  register_cleanup (server_out);
  register_cleanup (client_out);
  unlink (server_out);
  unlink (client_out);
  if (!start_server_traced (bench, s, name, server_out, error))
    return FALSE;
  ok = syscall_client_run (bench, syscall_pairs[i].client, bench->socket_paths[s], size, count,
                           client_out, error);
  syscall_server_stop (bench, s);
  if (!ok)
    return FALSE;

  *client_calls = bench_strace_parse (client_out, error);
  if (*client_calls == NULL)
    return FALSE;
  *server_calls = bench_strace_parse (server_out, error);
  if (*server_calls == NULL)
    {
      g_clear_pointer (client_calls, g_hash_table_unref);
      return FALSE;
    }
  return TRUE;
}

static gint
compare_calls (gconstpointer a,
               gconstpointer b,
               gpointer      user_data)
{
  GHashTable *per = user_data;
  double x = *(double *) g_hash_table_lookup (per, *(const char **) a);
  double y = *(double *) g_hash_table_lookup (per, *(const char **) b);

  return x < y ? 1 : x > y ? -1 : strcmp (*(const char **) a, *(const char **) b);
}

/* The calls per round trip from two runs of @n1 and @n2 round trips, in
 * @total; returns them one by one, most first, such as "read 1, write 1". */
static char *
syscall_difference (GHashTable *first,
                    GHashTable *second,
                    guint       n1,
                    guint       n2,
                    double     *total)
{
  g_autoptr(GHashTable) per = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autoptr(GString) text = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, second);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      double *calls = g_new (double, 1);

      *calls = (GPOINTER_TO_INT (value) - GPOINTER_TO_INT (g_hash_table_lookup (first, key))) /
               (double) (n2 - n1);
      g_hash_table_insert (per, key, calls);
      if (g_str_equal (key, "total"))
        *total = *calls;
      else if (*calls >= 0.05)
        g_ptr_array_add (names, key);
    }
  g_ptr_array_sort_with_data (names, compare_calls, per);
  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (text, "%s%s %.2g", i > 0 ? ", " : "", (char *) names->pdata[i],
                            *(double *) g_hash_table_lookup (per, names->pdata[i]));
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
run_syscalls (Bench *bench)
{
  guint n1 = bench->plan.syscall_count, n2 = 2 * n1;

  bench->syscalls_ran = TRUE;
  for (guint i = 0; i < N_SYSCALL_PAIRS; i++)
    for (guint z = 0; z < N_SIZES; z++)
      {
        SyscallCase *c = &bench->syscalls[i][z];
        g_autoptr(GHashTable) client1 = NULL, server1 = NULL, client2 = NULL, server2 = NULL;
        g_autoptr(GError) error = NULL;

        /* The quick run counts at 4 B only. */
        if (!size_selected[z] || (opt_quick && z != SIZE_4B))
          continue;
        c->ran = TRUE;
        if (bench->strace == NULL ||
            (opt_no_python && client_is_python (syscall_pairs[i].client)))
          {
            c->skipped = TRUE;
            continue;
          }
        if (!syscall_pair_run (bench, i, z, n1, &client1, &server1, &error) ||
            !syscall_pair_run (bench, i, z, n2, &client2, &server2, &error))
          {
            c->error = g_strdup (error->message);
            g_printerr ("rabc-bench: system calls of %s against %s: %s\n",
                        client_names[syscall_pairs[i].client],
                        server_names[syscall_pairs[i].server], error->message);
            continue;
          }
        c->client_detail = syscall_difference (client1, client2, n1, n2, &c->client_calls);
        c->server_detail = syscall_difference (server1, server2, n1, n2, &c->server_calls);
      }
}

/* --syscall-client: the C client of a pair, run under strace. */
static int
syscall_client_main (void)
{
  Bench bench = { 0 };
  LatencyCase c = { 0 };
  g_autoptr(GError) error = NULL;
  gsize size = opt_sizes != NULL ? g_ascii_strtoull (opt_sizes, NULL, 10) : 4;
  guint z = N_SIZES;
  int status = 0;

  for (guint i = 0; i < N_SIZES; i++)
    if (sizes[i] == size)
      z = i;
  c.client = N_CLIENTS;
  for (ClientKind k = 0; k < N_CLIENTS; k++)
    if (g_strcmp0 (opt_syscall_client, client_ids[k]) == 0 && !client_is_python (k))
      c.client = k;
  if (z == N_SIZES || c.client == N_CLIENTS || opt_client_socket == NULL || opt_count <= 0)
    {
      g_printerr ("rabc-bench: --syscall-client needs a C client, --client-socket, "
                  "--count and one --size\n");
      return 2;
    }
  request_messages[z] = bench_request_message (sizes[z]);
  request_frames[z] = bench_request_frame (sizes[z]);
  c.server = SERVER_RAW;
  bench.socket_paths[SERVER_RAW] = opt_client_socket;
  if (!latency_open (&bench, &c, &error) ||
      !latency_round_trips (&c, z, opt_count, FALSE, &error))
    {
      g_printerr ("rabc-bench: %s\n", error->message);
      status = 1;
    }
  latency_close (&c);
  g_free (request_messages[z]);
  g_free (request_frames[z]);
  return status;
}

/* Results. */

typedef enum {
  VERDICT_NONE,
  VERDICT_PASS,
  VERDICT_MISS,
  VERDICT_FAILED,
  VERDICT_SKIPPED,
  VERDICT_UNJUDGED,
} Verdict;

static const char *const verdict_names[] = {
  "", "PASS", "MISS", "FAILED", "skipped", "not judged",
};

typedef struct {
  guint passes, misses, failures;
  /* Some case did not run whole. */
  gboolean incomplete;
} Tally;

static Verdict
judge (Bench    *bench,
       Tally    *tally,
       gboolean  has_target,
       gboolean  met)
{
  if (!has_target)
    return VERDICT_NONE;
  if (opt_quick)
    return VERDICT_UNJUDGED;
  if (met)
    {
      tally->passes++;
      return VERDICT_PASS;
    }
  tally->misses++;
  return VERDICT_MISS;
}

/* A case that did not run whole: FAILED, which is also a failure of its
 * target when it has one. */
static Verdict
fail_case (Tally    *tally,
           gboolean  has_target)
{
  tally->incomplete = TRUE;
  if (has_target)
    tally->failures++;
  return VERDICT_FAILED;
}

/* What the target column shows for a case: that it is the baseline, its
 * target (such as "<= 1.10"), or nothing. */
static char *
format_target (gboolean    is_baseline,
               gboolean    has_target,
               const char *relation,
               double      target)
{
  if (is_baseline)
    return g_strdup ("baseline");
  if (has_target)
    return g_strdup_printf ("%s %.2f", relation, target);
  return g_strdup ("-");
}

static void
min_max (const double *values,
         guint         n,
         double       *min,
         double       *max)
{
  *min = *max = NAN;
  for (guint i = 0; i < n; i++)
    {
      if (isnan (*min) || values[i] < *min)
        *min = values[i];
      if (isnan (*max) || values[i] > *max)
        *max = values[i];
    }
}

static double
case_p50 (LatencyCase *c,
          guint        size)
{
  return case_usable (c) ? bench_samples_percentile (&c->per[size].samples, 50) : NAN;
}

static double
case_p99 (LatencyCase *c,
          guint        size)
{
  return case_usable (c) ? bench_samples_percentile (&c->per[size].samples, 99) : NAN;
}

/* Whether a throughput case ran and had every request answered. */
static gboolean
load_complete (const LoadCase *c)
{
  return c->error == NULL && c->n_rounds > 0 && c->answered == c->sent;
}

static double
load_median (LoadCase *c)
{
  return c->error == NULL ? bench_median (c->req_per_s, c->n_rounds) : NAN;
}

static double
scale_rss_per_conn (Bench *bench)
{
  const BenchScaleResult *s = &bench->scale;

  if (s->n_conns == 0 || s->rss_before_kib < 0 || s->rss_idle_kib <= 0)
    return NAN;
  return (s->rss_idle_kib - s->rss_before_kib) * 1024.0 / s->n_conns;
}

static void
json_string (GString    *out,
             const char *s)
{
  g_string_append_c (out, '"');
  for (; s != NULL && *s != '\0'; s++)
    {
      if (*s == '"' || *s == '\\')
        g_string_append_printf (out, "\\%c", *s);
      else if ((guchar) *s < 0x20)
        g_string_append_printf (out, "\\u%04x", *s);
      else
        g_string_append_c (out, *s);
    }
  g_string_append_c (out, '"');
}

static void
json_number (GString *out,
             double   value)
{
  if (isnan (value) || isinf (value))
    g_string_append (out, "null");
  else
    g_string_append_printf (out, "%.6g", value);
}

/* Ends the JSON object of one case: its error, or null, then a comma
 * unless it is the @last of its list. */
static void
json_case_end (GString    *out,
               const char *error,
               gboolean    last)
{
  g_string_append (out, ", \"error\": ");
  if (error != NULL)
    json_string (out, error);
  else
    g_string_append (out, "null");
  g_string_append_printf (out, "}%s\n", last ? "" : ",");
}

/* The rounds, the counts and the CPU times of a throughput case, and its
 * result, for its JSON object. */
static void
json_load_rounds (GString        *out,
                  const LoadCase *c,
                  double          server_cpu,
                  double          loadgen_cpu,
                  Verdict         verdict)
{
  g_string_append (out, ", \"rounds_req_per_s\": [");
  for (guint r = 0; r < c->n_rounds; r++)
    {
      if (r > 0)
        g_string_append (out, ", ");
      json_number (out, c->req_per_s[r]);
    }
  g_string_append_printf (out, "], \"sent\": %" G_GUINT64_FORMAT
                          ", \"answered\": %" G_GUINT64_FORMAT ", \"server_cpu\": ",
                          c->sent, c->answered);
  json_number (out, server_cpu);
  g_string_append (out, ", \"loadgen_cpu\": ");
  json_number (out, loadgen_cpu);
  g_string_append (out, ", \"result\": ");
  json_string (out, verdict_names[verdict]);
}

static void
report_syscalls (Bench   *bench,
                 Tally   *tally,
                 GString *json)
{
  gboolean first_entry = TRUE;

  g_string_append (json, "  \"syscalls\": [\n");
  if (!bench->syscalls_ran)
    {
      g_string_append (json, "  ],\n");
      return;
    }
  g_print ("\nSYSTEM CALLS: per round trip, of the client and of the server, each under\n"
           "strace -f -c (%s), from the difference between runs of %u and %u round\n"
           "trips, which leaves out starting, connecting and stopping. No timing.\n\n",
           bench->strace ? bench->strace : "not found", bench->plan.syscall_count,
           2 * bench->plan.syscall_count);
  g_print ("%-38s %-6s %-9s %7s %7s  %-12s %-10s %s\n",
           "case", "server", "size", "client", "server", "target", "result", "calls");
  for (guint i = 0; i < N_SYSCALL_PAIRS; i++)
    for (guint z = 0; z < N_SIZES; z++)
      {
        SyscallCase *c = &bench->syscalls[i][z];
        ClientKind k = syscall_pairs[i].client;
        ServerKind s = syscall_pairs[i].server;
        /* What the two targets are measured on: rabc_client_send_sync's
         * calls, and rabcd's calls answering the raw client. */
        gboolean client_target = z == SIZE_4B && k == CLIENT_SYNC && s == SERVER_RABCD;
        gboolean server_target = z == SIZE_4B && k == CLIENT_RAW && s == SERVER_RABCD;
        gboolean has_target = client_target || server_target;
        double measured = client_target ? c->client_calls : c->server_calls;
        double target = client_target ? TARGET_SYSCALLS_CLIENT : TARGET_SYSCALLS_RABCD;
        g_autofree char *target_text = NULL;
        Verdict verdict;

        if (!c->ran)
          continue;
        target_text = !has_target ? g_strdup ("-")
                    : g_strdup_printf ("%s <= %.0f", client_target ? "client" : "server", target);
        if (c->skipped)
          verdict = VERDICT_SKIPPED;
        else if (c->error != NULL)
          verdict = fail_case (tally, has_target);
        else
          /* A stray call now and then, such as a timer's, is not the
           * round trip's. */
          verdict = judge (bench, tally, has_target, measured <= target + 0.02);

        if (c->skipped || c->error != NULL)
          g_print ("%-38s %-6s %-9s %7s %7s  %-12s %s%s%s\n",
                   client_names[k], server_names[s], size_labels[z], "-", "-", target_text,
                   verdict_names[verdict], c->error ? ": " : "", c->error ? c->error : "");
        else
          g_print ("%-38s %-6s %-9s %7.2f %7.2f  %-12s %-10s client: %s; server: %s\n",
                   client_names[k], server_names[s], size_labels[z], c->client_calls,
                   c->server_calls, target_text, verdict_names[verdict],
                   c->client_detail, c->server_detail);

        if (!first_entry)
          g_string_append (json, ",\n");
        first_entry = FALSE;
        g_string_append (json, "    {\"case\": ");
        json_string (json, client_ids[k]);
        g_string_append (json, ", \"server\": ");
        json_string (json, server_names[s]);
        g_string_append_printf (json, ", \"size\": %" G_GSIZE_FORMAT ", \"client_calls_per_round_trip\": ",
                                sizes[z]);
        json_number (json, c->error || c->skipped ? NAN : c->client_calls);
        g_string_append (json, ", \"server_calls_per_round_trip\": ");
        json_number (json, c->error || c->skipped ? NAN : c->server_calls);
        g_string_append (json, ", \"client_calls\": ");
        json_string (json, c->client_detail);
        g_string_append (json, ", \"server_calls\": ");
        json_string (json, c->server_detail);
        g_string_append (json, ", \"target\": ");
        json_number (json, has_target ? target : NAN);
        g_string_append (json, ", \"result\": ");
        json_string (json, verdict_names[verdict]);
        g_string_append (json, ", \"error\": ");
        if (c->error != NULL)
          json_string (json, c->error);
        else
          g_string_append (json, "null");
        g_string_append (json, "}");
      }
  g_string_append (json, "\n  ],\n");
}

static int
report (Bench *bench)
{
  const Plan *plan = &bench->plan;
  g_autoptr(GString) json = g_string_new ("{\n");
  Tally tally = { 0 };

  g_string_append_printf (json, "  \"librabc\": \"%u.%u.%u\",\n  \"quick\": %s,\n"
                          "  \"cpus\": %ld,\n  \"loadavg_start\": [%.2f, %.2f, %.2f],\n"
                          "  \"loadavg_end\": [%.2f, %.2f, %.2f],\n",
                          rabc_get_major_version (), rabc_get_minor_version (),
                          rabc_get_micro_version (), opt_quick ? "true" : "false",
                          sysconf (_SC_NPROCESSORS_ONLN),
                          bench->loadavg_start[0], bench->loadavg_start[1], bench->loadavg_start[2],
                          bench->loadavg_end[0], bench->loadavg_end[1], bench->loadavg_end[2]);

  g_print ("\nrabc-bench: librabc %u.%u.%u, %ld CPUs, load average %.2f at start and %.2f at end%s\n",
           rabc_get_major_version (), rabc_get_minor_version (), rabc_get_micro_version (),
           sysconf (_SC_NPROCESSORS_ONLN), bench->loadavg_start[0], bench->loadavg_end[0],
           opt_quick ? " (--quick: tiny counts, targets not judged)" : "");
  if (bench->client_cpu >= 0)
    g_print ("CPU placement (--pin %s): clients and load generator on CPU %d, servers on CPU %d\n",
             bench->pin_mode, bench->client_cpu, bench->server_cpu);
  else
    g_print ("CPU placement (--pin none): left to the scheduler\n");
  g_print ("rabcd: %s (started with RLIMIT_NOFILE %lu/%lu, the benchmark's own)\n",
           bench->rabcd, (unsigned long) bench->original_nofile.rlim_cur,
           (unsigned long) bench->original_nofile.rlim_max);

  /* Latency. */
  if (!opt_syscalls)
    {
      g_print ("\nLATENCY: one request in flight, of N bytes (\"ping\" then 'x'), answered with\n"
               "\"pong\"; %u round trips per case at 4 B and 4 KiB, %u at 64 KiB, %u at 1 MiB - 1,\n"
               "after a warm-up, in %u interleaved rounds; p50 and p99 over all round trips.\n"
               "ratio = p50 / p50 of the raw baseline at the same size: the raw C client\n"
               "(blocking write/read) against the raw epoll server, measured in this same run.\n"
               "The echo servers answer with the request itself, so that the reply is as\n"
               "large: their ratio is to the raw client against the raw echo server.\n"
               "CPU µs: CPU time per round trip of the client (this process, or the Python\n"
               "one) and of the server process, all threads, over the recorded round trips.\n",
               plan->iterations, plan->iterations / size_divisors[SIZE_64K],
               plan->iterations / size_divisors[N_SIZES - 1], plan->rounds);
      g_print ("Placement: --pin %s.\n", bench->pin_mode);
    }
  g_string_append (json, "  \"latency\": [\n");
  {
    gboolean first_entry = TRUE;

    for (guint z = 0; z < N_SIZES && !opt_syscalls; z++)
      {
        LatencyCase *pong_baseline = &bench->latency[CLIENT_RAW][SERVER_RAW];
        LatencyCase *echo_baseline = &bench->latency[CLIENT_RAW][SERVER_RAW_ECHO];

        if (!size_selected[z])
          continue;
        g_print ("\n%s requests (--pin %s)\n", size_labels[z], bench->pin_mode);
        /* Widths count bytes: "µ" takes two. */
        g_print ("%-38s %-10s %9s %15s %9s %6s %8s %8s  %-8s %s\n",
                 "case", "server", "p50 µs", "rounds' p50", "p99 µs", "ratio",
                 "cli CPU", "srv CPU", "target", "result");

        for (ClientKind k = 0; k < N_CLIENTS; k++)
          for (ServerKind s = 0; s < N_SERVERS; s++)
            {
              LatencyCase *c = &bench->latency[k][s];
              LatencyCase *baseline = server_echoes (s) ? echo_baseline : pong_baseline;
              LatencySize *per = &c->per[z];
              double p50 = case_p50 (c, z), p99 = case_p99 (c, z);
              double ratio = p50 / case_p50 (baseline, z);
              double target = latency_target (k, s, z);
              double n = per->samples.len;
              double client_cpu = per->client_cpu_ns >= 0 && n > 0 ? per->client_cpu_ns / 1e3 / n : NAN;
              double server_cpu = per->server_cpu_ns >= 0 && n > 0 ? per->server_cpu_ns / 1e3 / n : NAN;
              g_autofree char *target_text = NULL;
              g_autofree char *range = NULL;
              double low, high;
              Verdict verdict;

              if (!latency_case_applies (k, s) || s == SERVER_FIXED || s == SERVER_HANDLER ||
                  s == SERVER_PY_HANDLER)
                continue;

              target_text = format_target (c == baseline, target > 0, "<=", target);
              if (c->skipped)
                verdict = VERDICT_SKIPPED;
              else if (!case_usable (c) || !case_usable (baseline) || per->samples.len == 0)
                verdict = fail_case (&tally, target > 0);
              else
                verdict = judge (bench, &tally, target > 0, ratio <= target);

              min_max (per->round_p50, per->n_round_p50, &low, &high);
              range = g_strdup_printf ("%.1f-%.1f", low, high);
              g_print ("%-38s %-10s %8.2f %15s %8.2f %6.2f %8.2f %8.2f  %-8s %s%s%s\n",
                       client_names[k], server_names[s], p50, range, p99, ratio,
                       client_cpu, server_cpu, target_text,
                       verdict_names[verdict], c->error ? ": " : "", c->error ? c->error : "");

              if (!first_entry)
                g_string_append (json, ",\n");
              first_entry = FALSE;
              g_string_append (json, "    {\"case\": ");
              json_string (json, client_ids[k]);
              g_string_append (json, ", \"server\": ");
              json_string (json, server_names[s]);
              g_string_append_printf (json, ", \"size\": %" G_GSIZE_FORMAT
                                      ", \"pin\": \"%s\", \"round_trips\": %" G_GSIZE_FORMAT
                                      ", \"p50_us\": ", sizes[z], bench->pin_mode, per->samples.len);
              json_number (json, p50);
              g_string_append (json, ", \"p99_us\": ");
              json_number (json, p99);
              g_string_append (json, ", \"ratio\": ");
              json_number (json, ratio);
              g_string_append (json, ", \"target_ratio\": ");
              json_number (json, target > 0 ? target : NAN);
              g_string_append (json, ", \"client_cpu_us_per_round_trip\": ");
              json_number (json, client_cpu);
              g_string_append (json, ", \"server_cpu_us_per_round_trip\": ");
              json_number (json, server_cpu);
              g_string_append (json, ", \"round_p50_us\": [");
              for (guint r = 0; r < per->n_round_p50; r++)
                {
                  if (r > 0)
                    g_string_append (json, ", ");
                  json_number (json, per->round_p50[r]);
                }
              g_string_append (json, "], \"result\": ");
              json_string (json, verdict_names[verdict]);
              g_string_append (json, ", \"error\": ");
              if (c->error != NULL)
                json_string (json, c->error);
              else
                g_string_append (json, "null");
              g_string_append (json, "}");
            }
      }
    g_string_append (json, "\n  ],\n");
  }

  /* Throughput. */
  if (!opt_syscalls)
    {
      g_print ("\nTHROUGHPUT: N connections, one request of the size shown in flight on each\n"
               "(the next is sent when its \"pong\" arrives), one epoll load-generator thread;\n"
               "for GDBus, N GDBusConnections with one g_dbus_connection_call() in flight\n"
               "each, all on one GMainLoop (and GDBus's worker thread). Median req/s of %u\n"
               "interleaved rounds of %.1f s after %.2f s of warm-up; ratio = the server /\n"
               "the raw epoll server at the same N and size. server, loadgen: CPUs each\n"
               "used during the window. Placement: --pin %s.\n\n",
               plan->load_rounds, plan->load_duration_s, plan->load_warmup_s, bench->pin_mode);
      g_print ("%-18s %6s %7s %9s %15s %6s  %-8s %-10s %6s %7s\n",
               "case", "conns", "size", "req/s", "rounds' req/s", "ratio", "target", "result",
               "server", "loadgen");
    }
  g_string_append (json, "  \"throughput\": [\n");
  {
    gboolean first_entry = TRUE;

    for (guint i = 0; i < N_LOAD_SIZES && !opt_syscalls; i++)
      for (ServerKind s = 0; s < N_SERVERS; s++)
        {
          LoadCase *c = &bench->load[i][s];
          double rate = load_median (c);
          double raw_rate = load_median (&bench->load[i][SERVER_RAW]);
          double ratio = s == SERVER_RAW ? 1.0 : rate / raw_rate;
          gboolean large = load_request_sizes[i] != SIZE_4B;
          gboolean has_target = s == SERVER_RABCD && load_sizes[i] >= 100;
          double target = large ? TARGET_THROUGHPUT_LARGE : TARGET_THROUGHPUT;
          gboolean complete = load_complete (c);
          double server_cpu = bench_median (c->server_cpu, c->n_rounds);
          double loadgen_cpu = bench_median (c->loadgen_cpu, c->n_rounds);
          Verdict verdict;
          double low, high;
          g_autofree char *range = NULL;
          g_autofree char *target_text = NULL;

          if (!load_case_applies (s, i) || (s != SERVER_GDBUS && s >= N_MATRIX_SERVERS))
            continue;

          if (!complete || (s != SERVER_RAW && bench->load[i][SERVER_RAW].error != NULL))
            verdict = fail_case (&tally, has_target);
          else
            verdict = judge (bench, &tally, has_target, ratio >= target);

          target_text = format_target (s == SERVER_RAW, has_target, ">=", target);
          min_max (c->req_per_s, c->n_rounds, &low, &high);
          range = g_strdup_printf ("%.0fk-%.0fk", low / 1000, high / 1000);
          g_print ("%-18s %6u %7s %9.0f %15s %6.2f  %-8s %-10s %6.2f %7.2f%s%s\n",
                   server_labels[s], load_sizes[i], size_labels[load_request_sizes[i]],
                   rate, range, ratio, target_text,
                   verdict_names[verdict], server_cpu, loadgen_cpu,
                   c->error ? "  " : "", c->error ? c->error : "");

          if (!first_entry)
            g_string_append (json, ",\n");
          first_entry = FALSE;
          g_string_append (json, "    {\"server\": ");
          json_string (json, server_names[s]);
          g_string_append_printf (json, ", \"connections\": %u, \"size\": %" G_GSIZE_FORMAT
                                  ", \"pin\": \"%s\", \"req_per_s\": ",
                                  load_sizes[i], sizes[load_request_sizes[i]], bench->pin_mode);
          json_number (json, rate);
          g_string_append (json, ", \"ratio\": ");
          json_number (json, ratio);
          g_string_append (json, ", \"target_ratio\": ");
          json_number (json, has_target ? target : NAN);
          json_load_rounds (json, c, server_cpu, loadgen_cpu, verdict);
          g_string_append (json, ", \"error\": ");
          if (c->error != NULL)
            json_string (json, c->error);
          else
            g_string_append (json, "null");
          g_string_append (json, "}");
        }
    g_string_append (json, "\n  ],\n");
  }

  /* System calls. */
  report_syscalls (bench, &tally, json);

  /* Answering from ::handle-request, at 4 B. */
  if (opt_syscalls)
    goto summary;
  g_print ("\nHANDLER: a RabcServer in a process of its own answering \"pong\" with its\n"
           "reply property (fixed: no handler, so no RabcRequest is made), the same\n"
           "program with a C ::handle-request handler that calls rabc_request_reply()\n"
           "at once, and a PyGObject Rabc.Server whose Python handler replies at once.\n"
           "Latency: rabc_client_send_sync, one client, in the rounds above; throughput:\n"
           "%u connections as above. ratio = the server / the fixed reply, this run.\n\n",
           HANDLER_LOAD_CONNS);
  g_print ("%-38s %9s %13s %9s %6s %9s  %-8s %s\n",
           "case", "p50 µs", "rounds' p50", "p99 µs", "ratio", "p99 ratio", "target", "result");
  g_string_append (json, "  \"handler\": {\n    \"latency\": [\n");
  {
    LatencyCase *fixed = &bench->latency[CLIENT_SYNC][SERVER_FIXED];
    double fixed_p50 = case_p50 (fixed, SIZE_4B), fixed_p99 = case_p99 (fixed, SIZE_4B);

    for (ServerKind s = SERVER_FIXED; s <= SERVER_PY_HANDLER; s++)
      {
        LatencyCase *c = &bench->latency[CLIENT_SYNC][s];
        gboolean has_target = s == SERVER_HANDLER;
        double p50 = case_p50 (c, SIZE_4B), p99 = case_p99 (c, SIZE_4B);
        double ratio = p50 / fixed_p50, p99_ratio = p99 / fixed_p99;
        double low, high;
        g_autofree char *range = NULL;
        g_autofree char *target_text = NULL;
        Verdict verdict;

        target_text = format_target (c == fixed, has_target, "<=", TARGET_HANDLER_LATENCY);

        if (c->skipped || !size_selected[SIZE_4B])
          verdict = VERDICT_SKIPPED;
        else if (!case_usable (c) || !case_usable (fixed))
          verdict = fail_case (&tally, has_target);
        else
          verdict = judge (bench, &tally, has_target, ratio <= TARGET_HANDLER_LATENCY);

        min_max (c->per[SIZE_4B].round_p50, c->per[SIZE_4B].n_round_p50, &low, &high);
        range = g_strdup_printf ("%.1f-%.1f", low, high);
        g_print ("%-38s %8.2f %13s %8.2f %6.2f %9.2f  %-8s %s%s%s\n",
                 server_labels[s], p50, range, p99, ratio, p99_ratio, target_text,
                 verdict_names[verdict], c->error ? ": " : "", c->error ? c->error : "");

        g_string_append (json, "      {\"case\": ");
        json_string (json, client_ids[CLIENT_SYNC]);
        g_string_append (json, ", \"server\": ");
        json_string (json, server_names[s]);
        g_string_append_printf (json, ", \"round_trips\": %" G_GSIZE_FORMAT ", \"p50_us\": ",
                                c->per[SIZE_4B].samples.len);
        json_number (json, p50);
        g_string_append (json, ", \"p99_us\": ");
        json_number (json, p99);
        g_string_append (json, ", \"ratio\": ");
        json_number (json, ratio);
        g_string_append (json, ", \"p99_ratio\": ");
        json_number (json, p99_ratio);
        g_string_append (json, ", \"target_ratio\": ");
        json_number (json, has_target ? TARGET_HANDLER_LATENCY : NAN);
        g_string_append (json, ", \"round_p50_us\": [");
        for (guint r = 0; r < c->per[SIZE_4B].n_round_p50; r++)
          {
            if (r > 0)
              g_string_append (json, ", ");
            json_number (json, c->per[SIZE_4B].round_p50[r]);
          }
        g_string_append (json, "], \"result\": ");
        json_string (json, verdict_names[verdict]);
        json_case_end (json, c->error, s == SERVER_PY_HANDLER);
      }
  }
  g_string_append (json, "    ],\n    \"throughput\": [\n");
  g_print ("\n%-38s %6s %9s %15s %6s  %-8s %-10s %6s %7s\n",
           "case", "conns", "req/s", "rounds' req/s", "ratio", "target", "result",
           "server", "loadgen");
  {
    guint size = LOAD_HANDLER;

    for (ServerKind s = SERVER_FIXED; s <= SERVER_PY_HANDLER; s++)
      {
        LoadCase *fixed = &bench->load[size][SERVER_FIXED];
        LoadCase *c = &bench->load[size][s];
        gboolean has_target = s == SERVER_HANDLER;
        gboolean fixed_complete = load_complete (fixed);
        gboolean complete = load_complete (c);
        double rate = load_median (c);
        double ratio = rate / load_median (fixed);
        double server_cpu = bench_median (c->server_cpu, c->n_rounds);
        double loadgen_cpu = bench_median (c->loadgen_cpu, c->n_rounds);
        double low, high;
        g_autofree char *range = NULL;
        g_autofree char *target_text = NULL;
        Verdict verdict;

        target_text = format_target (c == fixed, has_target, ">=",
                                     TARGET_HANDLER_THROUGHPUT);

        if (c->skipped || !load_case_applies (s, size))
          verdict = VERDICT_SKIPPED;
        else if (!complete || !fixed_complete)
          verdict = fail_case (&tally, has_target);
        else
          verdict = judge (bench, &tally, has_target, ratio >= TARGET_HANDLER_THROUGHPUT);

        min_max (c->req_per_s, c->n_rounds, &low, &high);
        range = g_strdup_printf ("%.0fk-%.0fk", low / 1000, high / 1000);
        g_print ("%-38s %6u %9.0f %15s %6.2f  %-8s %-10s %6.2f %7.2f%s%s\n",
                 server_labels[s], HANDLER_LOAD_CONNS, rate, range, ratio, target_text,
                 verdict_names[verdict], server_cpu, loadgen_cpu,
                 c->error ? "  " : "", c->error ? c->error : "");

        g_string_append (json, "      {\"server\": ");
        json_string (json, server_names[s]);
        g_string_append_printf (json, ", \"connections\": %u, \"req_per_s\": ", HANDLER_LOAD_CONNS);
        json_number (json, rate);
        g_string_append (json, ", \"ratio\": ");
        json_number (json, ratio);
        g_string_append (json, ", \"target_ratio\": ");
        json_number (json, has_target ? TARGET_HANDLER_THROUGHPUT : NAN);
        json_load_rounds (json, c, server_cpu, loadgen_cpu, verdict);
        json_case_end (json, c->error, s == SERVER_PY_HANDLER);
      }
  }
  g_string_append (json, "    ]\n  },\n");

  /* Fairness. */
  g_print ("\nFAIRNESS: a victim doing blocking round trips for %.1f s, %u rounds, beside N\n"
           "greedy connections that pipeline pings as fast as they can (64 KiB in flight\n"
           "each, replies read as they come), driven by one thread at SCHED_IDLE on the\n"
           "clients' CPU so that it never delays the victim there; victim's p50, p99 and\n"
           "maximum round trip, and the replies per second the greedy ones got.\n\n",
           plan->load_duration_s, MIN (plan->load_rounds, FAIR_ROUNDS));
  g_print ("%-18s %6s %9s %9s %9s %12s  %-9s %s\n",
           "server", "greedy", "p50 µs", "p99 µs", "max µs", "greedy rep/s", "target", "result");
  g_string_append (json, "  \"fairness\": [\n");
  for (guint i = 0; i < N_FAIR_SIZES; i++)
    for (ServerKind s = 0; s < N_MATRIX_SERVERS; s++)
      {
        FairCase *c = &bench->fair[i][s];
        gboolean has_target = s == SERVER_RABCD && fair_sizes[i] == 100;
        double p50 = bench_samples_percentile (&c->victim, 50);
        double p99 = bench_samples_percentile (&c->victim, 99);
        double max = bench_samples_percentile (&c->victim, 100);
        double rate = bench_median (c->greedy_rate, c->n_rounds);
        Verdict verdict;

        if (c->error != NULL || c->victim.len == 0)
          verdict = fail_case (&tally, has_target);
        else
          verdict = judge (bench, &tally, has_target, p99 <= TARGET_FAIR_P99_US);

        g_print ("%-18s %6u %9.1f %9.1f %9.1f %12.0f  %-9s %s%s%s\n",
                 server_labels[s], fair_sizes[i], p50, p99, max,
                 rate, has_target ? "p99<=2000" : "-", verdict_names[verdict],
                 c->error ? ": " : "", c->error ? c->error : "");

        g_string_append (json, "    {\"server\": ");
        json_string (json, server_names[s]);
        g_string_append_printf (json, ", \"greedy\": %u, \"victim_round_trips\": %" G_GSIZE_FORMAT
                                ", \"p50_us\": ", fair_sizes[i], c->victim.len);
        json_number (json, p50);
        g_string_append (json, ", \"p99_us\": ");
        json_number (json, p99);
        g_string_append (json, ", \"max_us\": ");
        json_number (json, max);
        g_string_append (json, ", \"greedy_replies_per_s\": ");
        json_number (json, rate);
        g_string_append (json, ", \"result\": ");
        json_string (json, verdict_names[verdict]);
        json_case_end (json, c->error, i == N_FAIR_SIZES - 1 && s == N_MATRIX_SERVERS - 1);
      }
  g_string_append (json, "  ],\n");

  /* Scale. */
  {
    const BenchScaleResult *sc = &bench->scale;
    gboolean complete = bench->scale_ran && bench->scale_error == NULL &&
                        sc->held >= sc->n_conns && sc->answered == sc->n_conns;
    gboolean full_size = plan->scale_conns >= TARGET_SCALE_CONNS;
    double per_conn = scale_rss_per_conn (bench);
    Verdict held_verdict, rss_verdict;

    if (!complete)
      held_verdict = fail_case (&tally, TRUE);
    else if (!full_size && !opt_quick)
      held_verdict = VERDICT_UNJUDGED;
    else
      held_verdict = judge (bench, &tally, TRUE, TRUE);

    if (!complete || isnan (per_conn))
      rss_verdict = VERDICT_FAILED;
    else if (!full_size && !opt_quick)
      rss_verdict = VERDICT_UNJUDGED;
    else
      rss_verdict = judge (bench, &tally, TRUE, per_conn <= TARGET_RSS_BYTES);

    g_print ("\nSCALE: a fresh rabcd; %u idle connections opened and held, VmRSS of rabcd\n"
             "read from /proc before and after; then one \"ping\" on each.\n\n",
             plan->scale_conns);
    g_print ("%-40s %-30s %-12s %s\n", "case", "measured", "target", "result");
    {
      g_autofree char *held = g_strdup_printf ("%u held, %u answered", sc->held, sc->answered);
      g_autofree char *target = g_strdup_printf ("all %u", plan->scale_conns);

      g_print ("%-40s %-30s %-12s %s%s%s\n",
               "rabcd, connections held and answered", held, target,
               verdict_names[held_verdict],
               bench->scale_error ? ": " : "", bench->scale_error ? bench->scale_error : "");
    }
    {
      g_autofree char *rss = g_strdup_printf ("%.0f B/conn", per_conn);

      g_print ("%-40s %-30s %-12s %s\n",
               "rabcd, RSS growth per idle connection", rss, "<= 4096 B",
               verdict_names[rss_verdict]);
    }
    g_print ("  VmRSS %ld KiB before, %ld KiB with %u idle connections, %ld KiB after each\n"
             "  was answered once; opening took %.2f s, answering all %.3f s.\n",
             sc->rss_before_kib, sc->rss_idle_kib, sc->n_conns, sc->rss_answered_kib,
             sc->connect_s, sc->answer_s);

    g_string_append_printf (json, "  \"scale\": {\"connections\": %u, \"held\": %u, "
                            "\"answered\": %u, \"rss_before_kib\": %ld, \"rss_idle_kib\": %ld, "
                            "\"rss_answered_kib\": %ld, \"rss_per_idle_connection_bytes\": ",
                            sc->n_conns, sc->held, sc->answered, sc->rss_before_kib,
                            sc->rss_idle_kib, sc->rss_answered_kib);
    json_number (json, per_conn);
    g_string_append (json, ", \"connections_result\": ");
    json_string (json, verdict_names[held_verdict]);
    g_string_append (json, ", \"rss_result\": ");
    json_string (json, verdict_names[rss_verdict]);
    g_string_append (json, ", \"error\": ");
    if (bench->scale_error)
      json_string (json, bench->scale_error);
    else
      g_string_append (json, "null");
    g_string_append (json, "},\n");
  }

summary:
  if (bench->server_error != NULL)
    {
      tally.incomplete = TRUE;
      g_print ("\nSERVER: %s\n", bench->server_error);
    }

  g_print ("\n");
  if (opt_quick)
    g_print ("RESULT: %s (quick run: targets not judged)\n",
             !tally.incomplete ? "every case ran and every request was answered" : "some cases FAILED");
  else
    g_print ("RESULT: %u targets PASS, %u MISS, %u could not be measured\n",
             tally.passes, tally.misses, tally.failures);

  g_string_append_printf (json, "  \"all_ran\": %s,\n  \"passes\": %u,\n  \"misses\": %u,\n"
                          "  \"failures\": %u,\n  \"server_error\": ",
                          !tally.incomplete ? "true" : "false", tally.passes, tally.misses, tally.failures);
  if (bench->server_error)
    json_string (json, bench->server_error);
  else
    g_string_append (json, "null");
  g_string_append (json, "\n}\n");

  if (opt_json != NULL)
    {
      g_autoptr(GError) error = NULL;

      if (!g_file_set_contents (opt_json, json->str, json->len, &error))
        {
          g_printerr ("rabc-bench: %s\n", error->message);
          tally.incomplete = TRUE;
        }
    }

  if (tally.incomplete)
    return 1;
  if (!opt_quick && tally.misses > 0)
    return 3;
  return 0;
}

static void
bench_free (Bench *bench)
{
  for (ClientKind k = 0; k < N_CLIENTS; k++)
    for (ServerKind s = 0; s < N_SERVERS; s++)
      {
        for (guint z = 0; z < N_SIZES; z++)
          bench_samples_clear (&bench->latency[k][s].per[z].samples);
        g_free (bench->latency[k][s].error);
        g_free (bench->latency[k][s].py_log);
      }
  for (guint i = 0; i < N_LOAD_SIZES; i++)
    for (ServerKind s = 0; s < N_SERVERS; s++)
      g_free (bench->load[i][s].error);
  for (guint i = 0; i < N_FAIR_SIZES; i++)
    for (ServerKind s = 0; s < N_MATRIX_SERVERS; s++)
      {
        bench_samples_clear (&bench->fair[i][s].victim);
        g_free (bench->fair[i][s].error);
      }
  for (ServerKind s = 0; s < N_SERVERS; s++)
    {
      g_free (bench->socket_paths[s]);
      g_free (bench->log_paths[s]);
    }
  for (guint i = 0; i < N_SYSCALL_PAIRS; i++)
    for (guint z = 0; z < N_SIZES; z++)
      {
        g_free (bench->syscalls[i][z].client_detail);
        g_free (bench->syscalls[i][z].server_detail);
        g_free (bench->syscalls[i][z].error);
      }
  g_free (bench->strace);
  g_free (bench->scale_error);
  g_free (bench->server_error);
  g_free (bench->tmpdir);
  g_free (bench->self_exe);
  g_free (bench->rabcd);
  g_free (bench->python);
  g_free (bench->py_script);
  g_free (bench->py_service);
}

static void
remove_tmpdir (Bench *bench)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (bench->tmpdir == NULL)
    return;
  dir = g_dir_open (bench->tmpdir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (bench->tmpdir, name, NULL);
      unlink (path);
    }
  rmdir (bench->tmpdir);
  cleanup_dir[0] = '\0';
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  struct sigaction action = { .sa_handler = on_fatal_signal };
  Bench bench = { 0 };
  int status;

  setlocale (LC_ALL, "");
  bench_frames_init ();

  context = g_option_context_new ("- measure librabc against the physical baseline");
  g_option_context_set_summary (context,
    "Measures, in one run: round-trip latency of the raw C client, of\n"
    "rabc_client_send_sync, of rabc_client_send_async on a GMainLoop and of\n"
    "Python's Client.send_sync through gi, each against rabcd and against a raw\n"
    "epoll server, with requests of 4 B, 4 KiB, 64 KiB and 1 MiB - 1, and the\n"
    "same of GDBus peer to peer from C and Python; CPU time per round trip;\n"
    "throughput of rabcd, of the raw server and of GDBus with 1, 100 and 1000\n"
    "connections, and 100 with 64 KiB requests; send_sync and 100 connections\n"
    "against a RabcServer\n"
    "answering from a ::handle-request handler in C and in Python, beside the\n"
    "same server answering with its reply property; and rabcd holding 10,000\n"
    "idle connections.\n\n"
    "Exit status: 0 when every case ran and every target passed (--quick: when\n"
    "every case ran and every request was answered), 3 when a target was\n"
    "missed, 1 when a case could not run, 2 for bad options.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("rabc-bench: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("rabc-bench: unexpected argument: %s\n", argv[1]);
      return 2;
    }

  if (opt_raw_server != NULL)
    return bench_raw_server_main (opt_raw_server, opt_echo);
  if (opt_service != NULL)
    return bench_service_main (opt_service, opt_handler);
  if (opt_gdbus_server != NULL)
    return bench_gdbus_server_main (opt_gdbus_server);
  if (opt_syscall_client != NULL)
    return syscall_client_main ();

  if (opt_loadgen != NULL)
    {
      BenchLoadResult result;

      bench_raise_nofile (NULL);
      signal (SIGPIPE, SIG_IGN);
      if (opt_conns <= 0 ||
          !bench_load_run (opt_loadgen, 0, opt_conns,
                           opt_sizes != NULL ? MAX (g_ascii_strtoull (opt_sizes, NULL, 10), 4) : 4,
                           0.2,
                           opt_duration > 0 ? opt_duration : 5.0, &result, &error))
        {
          g_printerr ("rabc-bench: %s\n", error ? error->message : "--conns must be positive");
          return 1;
        }
      g_print ("%u connections: %.0f req/s over %.2f s, %" G_GUINT64_FORMAT
               " sent, %" G_GUINT64_FORMAT " answered, load generator %.2f CPUs\n",
               result.n_conns, result.req_per_s, result.window_s, result.sent,
               result.answered, result.loadgen_cpu);
      return result.sent == result.answered ? 0 : 1;
    }

  bench.plan = opt_quick
    ? (Plan) { .iterations = 200, .warmup = 20, .rounds = 2, .load_rounds = 1,
               .load_warmup_s = 0.02, .load_duration_s = 0.1, .scale_conns = 100,
               .syscall_count = 20 }
    : (Plan) { .iterations = 20000, .warmup = 1000, .rounds = 20, .load_rounds = 5,
               .load_warmup_s = 0.2, .load_duration_s = 1.0, .scale_conns = 10000,
               .syscall_count = 1000 };
  if (opt_iterations > 0)
    bench.plan.iterations = opt_iterations;
  if (opt_rounds > 0)
    bench.plan.rounds = MIN (opt_rounds, MAX_ROUNDS);
  if (opt_duration > 0)
    bench.plan.load_duration_s = opt_duration;
  if (opt_scale > 0)
    bench.plan.scale_conns = opt_scale;
  bench.plan.iterations = MAX (bench.plan.iterations, bench.plan.rounds);

  if (opt_sizes == NULL)
    for (guint z = 0; z < N_SIZES; z++)
      size_selected[z] = TRUE;
  else
    {
      g_auto(GStrv) words = g_strsplit (opt_sizes, ",", -1);

      for (guint i = 0; words[i] != NULL; i++)
        {
          char *end;
          guint64 value = g_ascii_strtoull (g_strstrip (words[i]), &end, 10);
          guint z = 0;

          while (z < N_SIZES && (sizes[z] != value || *end != '\0' || end == words[i]))
            z++;
          if (z == N_SIZES)
            {
              g_printerr ("rabc-bench: --size takes 4, 4096, 65536 and 1048575, "
                          "separated by commas, not \"%s\"\n", words[i]);
              return 2;
            }
          size_selected[z] = TRUE;
        }
    }
  for (guint z = 0; z < N_SIZES; z++)
    {
      request_messages[z] = bench_request_message (sizes[z]);
      request_frames[z] = bench_request_frame (sizes[z]);
    }

  bench.rabcd = g_strdup (opt_rabcd != NULL ? opt_rabcd : RABC_BENCH_RABCD);
  bench.python = g_strdup (opt_python != NULL ? opt_python : RABC_BENCH_PYTHON);
  bench.py_script = g_strdup (opt_py_script != NULL ? opt_py_script : RABC_BENCH_PY_SCRIPT);
  bench.py_service = g_strdup (opt_py_service != NULL ? opt_py_service : RABC_BENCH_PY_SERVICE);
  bench.self_exe = g_file_read_link ("/proc/self/exe", &error);
  if (bench.self_exe == NULL)
    {
      g_printerr ("rabc-bench: %s\n", error->message);
      return 1;
    }
  if (bench.rabcd[0] == '\0' || !g_file_test (bench.rabcd, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_printerr ("rabc-bench: no rabcd to measure at \"%s\": pass --rabcd PATH\n", bench.rabcd);
      bench_free (&bench);
      return 2;
    }
  if (!opt_no_python &&
      (!g_file_test (bench.python, G_FILE_TEST_IS_EXECUTABLE) ||
       !g_file_test (bench.py_script, G_FILE_TEST_EXISTS) ||
       !g_file_test (bench.py_service, G_FILE_TEST_EXISTS)))
    {
      g_printerr ("rabc-bench: no Python at \"%s\" or no script at \"%s\" or \"%s\": "
                  "pass --python, --py-script, --py-service or --no-python\n",
                  bench.python, bench.py_script, bench.py_service);
      bench_free (&bench);
      return 2;
    }

  /* Pinned, every case runs with the same placement: otherwise the
   * scheduler decides per process pair whether a round trip crosses CPUs,
   * which changes it more than what is measured here. */
  {
    int cpus[2];
    guint n_cpus = bench_allowed_cpus (cpus, 2);

    bench.pin_mode = opt_pin != NULL ? opt_pin : n_cpus >= 2 ? "split" : "none";
    bench.client_cpu = bench.server_cpu = -1;
    if (g_str_equal (bench.pin_mode, "split") && n_cpus >= 2)
      {
        bench.client_cpu = cpus[0];
        bench.server_cpu = cpus[1];
      }
    else if (g_str_equal (bench.pin_mode, "same") && n_cpus >= 1)
      bench.client_cpu = bench.server_cpu = cpus[0];
    else if (!g_str_equal (bench.pin_mode, "none"))
      {
        g_printerr ("rabc-bench: --pin must be split (with two CPUs or more), same or none\n");
        bench_free (&bench);
        return 2;
      }
    if (bench.client_cpu >= 0)
      bench_pin_self (bench.client_cpu);
  }

  bench_raise_nofile (&bench.original_nofile);
  getrlimit (RLIMIT_NOFILE, &bench.raised_nofile);
  if (bench.raised_nofile.rlim_cur < bench.plan.scale_conns + 1100)
    g_printerr ("rabc-bench: warning: RLIMIT_NOFILE is %lu, too low for %u connections\n",
                (unsigned long) bench.raised_nofile.rlim_cur, bench.plan.scale_conns);
  signal (SIGPIPE, SIG_IGN);

  bench.tmpdir = g_dir_make_tmp ("rabc-bench-XXXXXX", &error);
  if (bench.tmpdir == NULL)
    {
      g_printerr ("rabc-bench: %s\n", error->message);
      bench_free (&bench);
      return 1;
    }
  g_strlcpy (cleanup_dir, bench.tmpdir, sizeof cleanup_dir);
  sigaction (SIGINT, &action, NULL);
  sigaction (SIGTERM, &action, NULL);
  sigaction (SIGHUP, &action, NULL);

  read_loadavg (bench.loadavg_start);
  bench.strace = bench_strace_find ();
  if (opt_syscalls)
    {
      if (bench.strace == NULL)
        g_printerr ("rabc-bench: no strace on PATH: the system calls cannot be counted\n");
      g_printerr ("rabc-bench: system calls...\n");
      run_syscalls (&bench);
      read_loadavg (bench.loadavg_end);
      goto report;
    }

  for (ServerKind s = 0; s < N_SERVERS; s++)
    if (!(s == SERVER_PY_HANDLER && opt_no_python) &&
        !start_server (&bench, s, server_names[s], &error))
      {
        g_printerr ("rabc-bench: cannot start the %s server: %s\n", server_names[s], error->message);
        bench.server_error = g_strdup_printf ("cannot start the %s server: %s",
                                              server_names[s], error->message);
        g_clear_error (&error);
      }

  g_printerr ("rabc-bench: latency...\n");
  run_latency (&bench);
  g_printerr ("rabc-bench: throughput...\n");
  run_load (&bench);
  g_printerr ("rabc-bench: fairness...\n");
  run_fairness (&bench);
  g_printerr ("rabc-bench: scale...\n");
  run_scale (&bench);

  read_loadavg (bench.loadavg_end);

  for (ServerKind s = 0; s < N_SERVERS; s++)
    stop_server (&bench, s);

  /* The quick run keeps the --syscalls mode working too. */
  if (opt_quick)
    {
      g_printerr ("rabc-bench: system calls...\n");
      run_syscalls (&bench);
    }

report:
  status = report (&bench);
  for (guint z = 0; z < N_SIZES; z++)
    {
      g_free (request_messages[z]);
      g_free (request_frames[z]);
    }

  remove_tmpdir (&bench);
  bench_free (&bench);
  return status;
}
