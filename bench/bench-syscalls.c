/* bench-syscalls.c: system calls counted with strace -c
 *
 * SPDX-License-Identifier: MIT
 */

#include "bench-syscalls.h"

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

char *
bench_strace_find (void)
{
  return g_find_program_in_path ("strace");
}

GHashTable *
bench_strace_parse (const char  *path,
                    GError     **error)
{
  g_autoptr(GHashTable) calls = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  gboolean total = FALSE;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;

  /* % time     seconds  usecs/call     calls    errors syscall
   * ------ ----------- ----------- --------- --------- ----------------
   *  52.17    0.000012           1        12           read
   * 100.00    0.000023           1        24         1 total       */
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) words = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      const char *fields[6];
      guint n = 0;
      char *end;
      long value;

      for (guint w = 0; words[w] != NULL && n < G_N_ELEMENTS (fields); w++)
        if (words[w][0] != '\0')
          fields[n++] = words[w];
      if (n < 5 || !g_ascii_isdigit (fields[0][0]))
        continue;

      value = strtol (fields[3], &end, 10);
      if (*end != '\0' || value < 0)
        continue;
      g_hash_table_replace (calls, g_strdup (fields[n - 1]), GINT_TO_POINTER ((int) value));
      if (g_str_equal (fields[n - 1], "total"))
        total = TRUE;
    }

  if (!total)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "no strace -c table in %s", path);
      return NULL;
    }
  return g_steal_pointer (&calls);
}

pid_t
bench_first_child (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/task/%d/children", (int) pid, (int) pid);
  g_autofree char *contents = NULL;
  long child;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  child = strtol (contents, NULL, 10);
  return child > 0 ? (pid_t) child : -1;
}
