/* bench-gdbus.h: GDBus peer to peer, GLib's own IPC, for comparison
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "bench-load.h"

G_BEGIN_DECLS

#define BENCH_GDBUS_PATH      "/org/librabc/Bench"
#define BENCH_GDBUS_INTERFACE "org.librabc.Bench"

/* Serves a GDBusServer on "unix:path=@path" until SIGTERM or SIGINT,
 * exporting on every connection an object with a method Ping(s) -> s that
 * answers "pong".  Returns the exit status. */
int              bench_gdbus_server_main (const char  *path);

/* A peer-to-peer connection to the server on @path, authenticated as a
 * client, its messages handled by GDBus's worker thread. */
GDBusConnection *bench_gdbus_connect     (const char  *path,
                                          GError     **error);
/* One g_dbus_connection_call_sync() of Ping (@message); checks the reply. */
gboolean         bench_gdbus_ping_sync   (GDBusConnection *connection,
                                          const char      *message,
                                          GError         **error);

/* The load generator of bench_load_run() for GDBus: @n_conns connections,
 * each with one asynchronous Ping call in flight (the next is made from the
 * reply's callback), all on one GMainLoop in this thread.  loadgen_cpu is
 * the CPU of this whole process, GDBus's worker thread included. */
gboolean         bench_gdbus_load_run    (const char      *path,
                                          pid_t            server_pid,
                                          guint            n_conns,
                                          gsize            request_size,
                                          double           warmup_s,
                                          double           duration_s,
                                          BenchLoadResult *result,
                                          GError         **error);

G_END_DECLS
