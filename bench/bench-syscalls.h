/* bench-syscalls.h: system calls counted with strace -c
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* The strace on PATH, or NULL. */
char       *bench_strace_find   (void);

/* Reads the table strace -c wrote to @path: a table from each system
 * call's name to its number of calls (GINT_TO_POINTER), with the sum of
 * them all under "total".  NULL with @error set when there is none. */
GHashTable *bench_strace_parse  (const char  *path,
                                 GError     **error);

/* The first child of @pid, from /proc/PID/task/PID/children; -1 when it
 * has none. */
pid_t       bench_first_child   (pid_t        pid);

G_END_DECLS
