/* test-tools.c: rabcd and rabcc as real processes
 *
 * SPDX-License-Identifier: MIT
 */

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "rabc-test-util.h"

typedef RabcTestFixture Fixture;

static const char *
tool (const char *name)
{
  const char *path = g_getenv (name);

  g_assert_nonnull (path);
  return path;
}

typedef struct {
  gboolean  done;
  char     *out;
  char     *err;
} Output;

static void
on_communicated (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Output *output = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result,
                                        &output->out, &output->err, &error);
  g_assert_no_error (error);
  output->done = TRUE;
}

static GSubprocess *
spawn (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                     G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  return process;
}

/* Waits for @process to exit, at most 20 s, and collects what it printed. */
static int
finish (GSubprocess  *process,
        char        **out,
        char        **err)
{
  Output output = { 0 };

  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_communicated, &output);
  rabc_test_wait_for (&output.done, 20000);
  while (!g_subprocess_get_if_exited (process) && !g_subprocess_get_if_signaled (process))
    g_main_context_iteration (NULL, TRUE);

  *out = output.out;
  *err = output.err;
  g_assert_true (g_subprocess_get_if_exited (process));
  return g_subprocess_get_exit_status (process);
}

/* Reads one line of @process's output, byte by byte so that nothing is
 * buffered away from finish(). */
static char *
read_line (GSubprocess *process)
{
  GInputStream *out = g_subprocess_get_stdout_pipe (process);
  g_autoptr(GString) line = g_string_new (NULL);
  char c;

  while (g_input_stream_read (out, &c, 1, NULL, NULL) == 1)
    {
      g_string_append_c (line, c);
      if (c == '\n')
        break;
    }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

static int
run (const char * const  *argv,
     char               **out,
     char               **err)
{
  g_autoptr(GSubprocess) process = spawn (argv);

  return finish (process, out, err);
}

static void
assert_one_line (const char *text,
                 const char *prefix,
                 const char *fragment)
{
  g_assert_true (g_str_has_prefix (text, prefix));
  g_assert_true (g_str_has_suffix (text, "\n"));
  g_assert_true (strchr (text, '\n') == text + strlen (text) - 1);
  if (fragment != NULL && strstr (text, fragment) == NULL)
    g_error ("expected \"%s\" in: %s", fragment, text);
}

/* Waits until a daemon answers on @path. */
static void
wait_for_daemon (const char *path)
{
  for (guint i = 0; i < 500; i++)
    {
      g_autoptr(RabcClient) client = rabc_client_new_sync (path, NULL, NULL);

      if (client != NULL)
        return;
      g_usleep (10 * 1000);
    }
  g_error ("no daemon answered on %s", path);
}

static GSubprocess *
start_daemon (const char *path)
{
  const char *argv[] = { tool ("RABCD"), "--socket", path, NULL };
  GSubprocess *daemon = spawn (argv);

  wait_for_daemon (path);
  return daemon;
}

/* rabcd on @path with the options @extra, NULL-terminated. */
static GSubprocess *
start_daemon_with (const char         *path,
                   const char * const *extra)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  GSubprocess *daemon;

  g_ptr_array_add (argv, (gpointer) tool ("RABCD"));
  g_ptr_array_add (argv, (gpointer) "--socket");
  g_ptr_array_add (argv, (gpointer) path);
  for (guint i = 0; extra[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) extra[i]);
  g_ptr_array_add (argv, NULL);

  daemon = spawn ((const char * const *) argv->pdata);
  wait_for_daemon (path);
  return daemon;
}

static void
stop_daemon (GSubprocess *daemon,
             int          signum)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_subprocess_send_signal (daemon, signum);
  g_assert_cmpint (finish (daemon, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
}

static void
test_versions (void)
{
  const char *rabcd_argv[] = { tool ("RABCD"), "--version", NULL };
  const char *rabcc_argv[] = { tool ("RABCC"), "--version", NULL };
  g_autofree char *expected_d = g_strdup_printf ("rabcd %s\n", RABC_VERSION_S);
  g_autofree char *expected_c = g_strdup_printf ("rabcc %s\n", RABC_VERSION_S);
  char *out, *err;

  g_assert_cmpint (run (rabcd_argv, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, expected_d);
  g_free (out); g_free (err);
  g_assert_cmpint (run (rabcc_argv, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, expected_c);
  g_free (out); g_free (err);
}

static void
test_end_to_end (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  const char *argv[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "20", NULL };
  const char *argv3[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "20",
                          "--count", "3", "--message", "hello", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *out3 = NULL;
  g_autofree char *err3 = NULL;

  /* By default: five replies, then exit 0. */
  g_assert_cmpint (run (argv, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "pong\npong\npong\npong\npong\n");
  g_assert_cmpstr (err, ==, "");

  g_assert_cmpint (run (argv3, &out3, &err3), ==, 0);
  g_assert_cmpstr (out3, ==, "pong\npong\npong\n");

  stop_daemon (daemon, SIGTERM);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

/* The first message goes out at once: with a period of ten minutes, the
 * first reply still comes, and the run ends with it. */
static void
test_rabcc_first_at_once (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  const char *argv[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "600000",
                         "--count", "1", "--json", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_assert_cmpint (run (argv, &out, &err), ==, 0);
  g_assert_true (g_str_has_prefix (out, "{\"message\": \"ping\", \"reply\": \"pong\", "
                                        "\"round_trip_us\": "));
  g_assert_cmpstr (err, ==, "");
  stop_daemon (daemon, SIGTERM);
}

static void
test_environment_socket (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GSubprocess) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  /* Both programs take the path from $RABC_SOCKET_PATH. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "RABC_SOCKET_PATH", fixture->path, TRUE);
  daemon = g_subprocess_launcher_spawn (launcher, &error, tool ("RABCD"), NULL);
  g_assert_no_error (error);
  wait_for_daemon (fixture->path);

  client = g_subprocess_launcher_spawn (launcher, &error, tool ("RABCC"),
                                        "--count", "1", "--interval", "10", NULL);
  g_assert_no_error (error);
  g_assert_cmpint (finish (client, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "pong\n");

  stop_daemon (daemon, SIGINT);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

static void
test_rabcc_no_daemon (Fixture       *fixture,
                      gconstpointer  data)
{
  const char *argv[] = { tool ("RABCC"), "--socket", fixture->path, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *expected =
    g_strdup_printf ("rabcc: cannot connect to %s: No such file or directory "
                     "(is rabcd running? \"systemctl start rabcd.socket\" starts it)\n",
                     fixture->path);

  g_assert_cmpint (run (argv, &out, &err), ==, 1);
  g_assert_cmpstr (err, ==, expected);
  g_assert_cmpstr (out, ==, "");
}

static void
test_rabcc_reply_missing (Fixture       *fixture,
                          gconstpointer  data)
{
  RabcTestPeer *peer = rabc_test_peer_new (fixture->path, rabc_test_silent_peer, NULL);
  const char *argv[] = { tool ("RABCC"), "--socket", fixture->path,
                         "--interval", "50", "--timeout", "200", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  /* The first message, sent at once, goes unanswered first; a slow run
   * may find the ping unanswered in the same dispatch: one line either
   * way. */
  g_assert_cmpint (run (argv, &out, &err), ==, 1);
  assert_one_line (err, "rabcc: ", " within 200 ms");
  g_assert_cmpstr (out, ==, "");
  rabc_test_peer_free (peer);
}

static void
test_rabcc_daemon_dies (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  const char *argv[] = { tool ("RABCC"), "--socket", fixture->path,
                         "--interval", "20", "--count", "0", NULL };
  g_autoptr(GSubprocess) client = spawn (argv);
  g_autofree char *first = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  first = read_line (client);
  g_assert_cmpstr (first, ==, "pong\n");
  g_subprocess_force_exit (daemon);
  g_subprocess_wait (daemon, NULL, NULL);

  g_assert_cmpint (finish (client, &out, &err), ==, 1);
  assert_one_line (err, "rabcc: ", "connection closed by the peer");
}

/* Ctrl-C or SIGTERM ends a run of rabcc as a count reached would, with
 * the status a shell gives a command killed by the signal, 130 or 143:
 * rabcc exits, it is not killed, and says nothing on stderr. */
static void
stop_rabcc_with (const char *path,
                 int         signum)
{
  const char *argv[] = { tool ("RABCC"), "--socket", path,
                         "--interval", "20", "--count", "0", NULL };
  g_autoptr(GSubprocess) client = spawn (argv);
  g_autofree char *first = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  first = read_line (client);
  g_assert_cmpstr (first, ==, "pong\n");
  g_subprocess_send_signal (client, signum);

  g_assert_cmpint (finish (client, &out, &err), ==, 128 + signum);
  g_assert_cmpstr (err, ==, "");
}

static void
test_rabcc_stopped_by_signal (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);

  stop_rabcc_with (fixture->path, SIGINT);
  stop_rabcc_with (fixture->path, SIGTERM);
  stop_daemon (daemon, SIGTERM);
}

/* On a terminal (script(1) gives rabcc one), the summary that ends a run
 * with --json is a JSON object like the lines before it. */
static void
test_rabcc_json_summary_on_terminal (Fixture       *fixture,
                                gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  g_autofree char *command = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;

  command = g_strdup_printf ("%s --socket %s --count 2 --interval 20 --json",
                             tool ("RABCC"), fixture->path);
  {
    const char *argv[] = { "script", "--quiet", "--return", "--command", command, "/dev/null",
                           NULL };

    g_assert_cmpint (run (argv, &out, &err), ==, 0);
  }

  /* The terminal ends lines with CR LF. */
  lines = g_strsplit (out, "\r\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  g_assert_cmpstr (lines[3], ==, "");
  for (guint i = 0; i < 2; i++)
    g_assert_true (g_str_has_prefix (lines[i], "{\"message\": \"ping\", \"reply\": \"pong\""));
  g_assert_true (g_regex_match_simple ("^\\{\"replies\": 2, \"round_trip_us\": "
                                       "\\{\"min\": [0-9]+, \"median\": [0-9]+, "
                                       "\"max\": [0-9]+\\}\\}$", lines[2], 0, 0));
  stop_daemon (daemon, SIGTERM);
}

static void
test_bad_options (Fixture       *fixture,
                  gconstpointer  data)
{
  const char *cases[][6] = {
    { "RABCC", "--interval", "0", NULL },
    { "RABCC", "--count", "-1", NULL },
    { "RABCC", "--timeout", "-5", NULL },
    { "RABCC", "--count", "many", NULL },
    { "RABCC", "--bogus", NULL },
    { "RABCC", "extra", NULL },
    { "RABCD", "--bogus", NULL },
    { "RABCD", "extra", NULL },
    { "RABCD", "--mode", "999", NULL },
    { "RABCD", "--mode", "rw", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *argv[6] = { tool (cases[i][0]) };
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      g_autofree char *prefix = g_strdup_printf ("%s: ", g_str_equal (cases[i][0], "RABCC") ? "rabcc" : "rabcd");

      for (guint j = 1; cases[i][j] != NULL; j++)
        argv[j] = cases[i][j];
      g_assert_cmpint (run (argv, &out, &err), ==, 2);
      assert_one_line (err, prefix, NULL);
    }
}

static void
test_rabcd_cannot_start (Fixture       *fixture,
                         gconstpointer  data)
{
  const char *argv[] = { tool ("RABCD"), "--socket", fixture->path, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *expected = g_strdup_printf ("rabcd: %s exists and is not a socket; refusing to replace it\n",
                                               fixture->path);

  g_assert_true (g_file_set_contents (fixture->path, "precious", -1, NULL));
  g_assert_cmpint (run (argv, &out, &err), ==, 1);
  g_assert_cmpstr (err, ==, expected);
  g_assert_true (g_file_get_contents (fixture->path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "precious");
}

static void
test_rabcd_already_running (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  const char *argv[] = { tool ("RABCD"), "--socket", fixture->path, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *expected = g_strdup_printf ("rabcd: a server is already listening on %s, or starting: "
                                               "it holds %s.lock\n", fixture->path, fixture->path);

  g_assert_cmpint (run (argv, &out, &err), ==, 1);
  g_assert_cmpstr (err, ==, expected);

  /* The first daemon still answers, and cleans up after itself. */
  wait_for_daemon (fixture->path);
  stop_daemon (daemon, SIGTERM);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

static void
test_rabcd_replaces_stale_socket (Fixture       *fixture,
                                  gconstpointer  data)
{
  g_autoptr(GSubprocess) first = start_daemon (fixture->path);
  g_autoptr(GSubprocess) second = NULL;

  /* A daemon killed outright leaves its socket file behind. */
  g_subprocess_force_exit (first);
  g_subprocess_wait (first, NULL, NULL);
  g_assert_true (g_file_test (fixture->path, G_FILE_TEST_EXISTS));

  second = start_daemon (fixture->path);
  stop_daemon (second, SIGTERM);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

static void
test_rabcc_json (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  const char *argv[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "20",
                         "--count", "2", "--json", "--message", "say \"hi\"\\", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GRegex) regex = g_regex_new ("^\\{\"message\": \"say \\\\\"hi\\\\\"\\\\\\\\\", "
                                         "\"reply\": \"pong\", \"round_trip_us\": [1-9][0-9]*\\}$",
                                         0, 0, NULL);

  g_assert_nonnull (regex);
  g_assert_cmpint (run (argv, &out, &err), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_cmpstr (lines[2], ==, "");
  for (guint i = 0; i < 2; i++)
    if (!g_regex_match (regex, lines[i], 0, NULL))
      g_error ("not the expected JSON: %s", lines[i]);

  stop_daemon (daemon, SIGTERM);
}

static void
test_rabcc_summary_on_terminal (Fixture       *fixture,
                                gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  g_autofree char *command = g_strdup_printf ("%s --socket %s --interval 20 --count 3",
                                              tool ("RABCC"), fixture->path);
  /* script(1) gives rabcc a terminal. */
  const char *argv[] = { "script", "-qec", command, "/dev/null", NULL };
  const char *piped[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "20",
                          "--count", "3", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *piped_out = NULL;
  g_autofree char *piped_err = NULL;
  g_autoptr(GRegex) regex = g_regex_new ("pong\r?\npong\r?\npong\r?\n"
                                         "3 replies, round trip min/median/max: "
                                         "([0-9]+)/([0-9]+)/([0-9]+) µs\r?\n$", 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;

  g_assert_cmpint (run (argv, &out, &err), ==, 0);
  if (!g_regex_match (regex, out, 0, &match))
    g_error ("no summary line in: %s", out);
  {
    g_autofree char *min = g_match_info_fetch (match, 1);
    g_autofree char *median = g_match_info_fetch (match, 2);
    g_autofree char *max = g_match_info_fetch (match, 3);

    g_assert_cmpint (atoi (min), >, 0);
    g_assert_cmpint (atoi (min), <=, atoi (median));
    g_assert_cmpint (atoi (median), <=, atoi (max));
  }

  /* Not on a terminal: no summary. */
  g_assert_cmpint (run (piped, &piped_out, &piped_err), ==, 0);
  g_assert_cmpstr (piped_out, ==, "pong\npong\npong\n");

  stop_daemon (daemon, SIGTERM);
}

static guint
file_mode (const char *path)
{
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  return st.st_mode & 0777;
}

static void
test_rabcd_socket_mode (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  g_autoptr(GSubprocess) open_daemon = NULL;
  g_autofree char *other = g_build_filename (fixture->dir, "open.sock", NULL);
  const char *argv[] = { tool ("RABCD"), "--socket", other, "--mode", "0666", NULL };

  g_assert_cmpuint (file_mode (fixture->path), ==, 0600);

  /* Wider than the umask allows: still exactly what was asked. */
  open_daemon = spawn (argv);
  wait_for_daemon (other);
  g_assert_cmpuint (file_mode (other), ==, 0666);

  stop_daemon (open_daemon, SIGTERM);
  stop_daemon (daemon, SIGTERM);
}

static void
test_socket_activation (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autofree char *activate = g_find_program_in_path ("systemd-socket-activate");
  const char *argv[] = { activate, "--listen", fixture->path, tool ("RABCD"), NULL };
  const char *client_argv[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "20",
                                "--count", "2", NULL };
  g_autoptr(GSubprocess) daemon = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  struct stat before, after;

  if (activate == NULL)
    g_error ("systemd-socket-activate is not installed (Debian package systemd)");

  /* It listens and, at the first connection, runs rabcd with the socket. */
  daemon = spawn (argv);
  for (guint i = 0; i < 500 && !g_file_test (fixture->path, G_FILE_TEST_EXISTS); i++)
    g_usleep (10 * 1000);
  g_assert_cmpint (lstat (fixture->path, &before), ==, 0);

  g_assert_cmpint (run (client_argv, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "pong\npong\n");

  /* rabcd neither re-creates nor removes the socket file. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_subprocess_send_signal (daemon, SIGTERM);
  g_assert_cmpint (finish (daemon, &out, &err), ==, 0);
  g_assert_nonnull (strstr (err, "Execing"));   /* rabcd itself printed nothing */
  g_assert_null (strstr (err, "rabcd:"));
  g_assert_cmpint (lstat (fixture->path, &after), ==, 0);
  g_assert_cmpint (before.st_ino, ==, after.st_ino);
}

static void
test_rabcc_reconnect (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  const char *argv[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "50",
                         "--count", "10", "--reconnect", NULL };
  g_autoptr(GSubprocess) client = spawn (argv);
  g_autoptr(GSubprocess) restarted = NULL;
  g_autofree char *first = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  first = read_line (client);
  g_assert_cmpstr (first, ==, "pong\n");
  stop_daemon (daemon, SIGTERM);
  g_usleep (200 * 1000);
  restarted = start_daemon (fixture->path);

  g_assert_cmpint (finish (client, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "pong\npong\npong\npong\npong\npong\npong\npong\npong\n");
  assert_one_line (err, "rabcc: ", "; reconnecting");
  stop_daemon (restarted, SIGTERM);
}

static void
test_rabcd_allow_uid (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *other_uid = g_strdup_printf ("%u", (guint) getuid () + 1);
  g_autofree char *own_uid = g_strdup_printf ("%u", (guint) getuid ());
  const char *refusing[] = { tool ("RABCD"), "--socket", fixture->path, "--allow-uid", other_uid, NULL };
  const char *allowing[] = { tool ("RABCD"), "--socket", fixture->path, "--allow-uid", other_uid,
                             "--allow-uid", own_uid, "--verbose", NULL };
  const char *client_argv[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "20",
                                "--count", "1", NULL };
  g_autoptr(GSubprocess) daemon = spawn (refusing);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *daemon_out = NULL;
  g_autofree char *daemon_err = NULL;

  for (guint i = 0; i < 500 && !g_file_test (fixture->path, G_FILE_TEST_EXISTS); i++)
    g_usleep (10 * 1000);
  g_assert_cmpint (run (client_argv, &out, &err), ==, 1);
  assert_one_line (err, "rabcc: ", "connection closed by the peer before any reply "
                   "(does the daemon accept your user? see --allow-uid in rabcd(8))");
  g_subprocess_send_signal (daemon, SIGTERM);
  g_assert_cmpint (finish (daemon, &daemon_out, &daemon_err), ==, 0);
  g_assert_nonnull (strstr (daemon_err, "refusing a connection from uid"));
  g_clear_object (&daemon);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  daemon = spawn (allowing);
  wait_for_daemon (fixture->path);
  {
    g_autoptr(GSubprocess) client = spawn (client_argv);
    g_autofree char *peer = g_strdup_printf ("client connected: pid %s, uid %u;",
                                             g_subprocess_get_identifier (client),
                                             (guint) getuid ());

    g_assert_cmpint (finish (client, &out, &err), ==, 0);
    g_assert_cmpstr (out, ==, "pong\n");

    /* --verbose logs who connected, from SO_PEERCRED. */
    g_clear_pointer (&daemon_out, g_free);
    g_clear_pointer (&daemon_err, g_free);
    g_subprocess_send_signal (daemon, SIGTERM);
    g_assert_cmpint (finish (daemon, &daemon_out, &daemon_err), ==, 0);
    /* GLib writes debug messages to stdout. */
    if (strstr (daemon_out, peer) == NULL)
      g_error ("expected \"%s\" in the log:\n%s", peer, daemon_out);
  }
}

static void
test_rabcd_echo (Fixture       *fixture,
                 gconstpointer  data)
{
  const char *echo[] = { "--echo", NULL };
  g_autoptr(GSubprocess) daemon = start_daemon_with (fixture->path, echo);
  const char *argv[] = { tool ("RABCC"), "--socket", fixture->path, "--interval", "20",
                         "--count", "2", "--message", "hello", NULL };
  /* Pipelined, so that each reply must also be the right one. */
  static const struct {
    const char *data;
    gsize       len;
  } messages[] = {
    { "with\0nul", 8 },
    { "", 0 },
    { "\0", 1 },
    { "h\xc3\xa9llo\0 w\xc3\xb6rld\0", 15 },
  };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int fd;

  g_assert_cmpint (run (argv, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "hello\nhello\n");
  g_assert_cmpstr (err, ==, "");

  fd = rabc_test_connect_raw (fixture->path);
  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    rabc_test_write_frame (fd, messages[i].data, messages[i].len);
  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      g_autoptr(GBytes) reply = rabc_test_read_frame_bytes (fd);
      gsize len;
      const char *reply_data;

      g_assert_nonnull (reply);
      reply_data = g_bytes_get_data (reply, &len);
      g_assert_cmpmem (reply_data, len, messages[i].data, messages[i].len);
    }
  close (fd);

  stop_daemon (daemon, SIGTERM);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

static void
test_rabcd_graceful_stop (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = start_daemon (fixture->path);
  int pid = atoi (g_subprocess_get_identifier (daemon));
  int fd = rabc_test_connect_raw (fixture->path);
  g_autoptr(GByteArray) frames = g_byte_array_new ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  guint64 len = 4;
  guint n_replies = 0;
  gint64 start;
  char *reply;

  /* Requests arrive while the daemon is stopped; SIGTERM comes before it
   * can read them. Every one is answered all the same. */
  g_usleep (50 * 1000);
  kill (pid, SIGSTOP);
  for (guint i = 0; i < 100; i++)
    {
      g_byte_array_append (frames, (const guint8 *) &len, sizeof len);
      g_byte_array_append (frames, (const guint8 *) "ping", 4);
    }
  rabc_test_write_all (fd, frames->data, frames->len);
  kill (pid, SIGTERM);
  start = g_get_monotonic_time ();
  kill (pid, SIGCONT);

  while ((reply = rabc_test_read_frame (fd)) != NULL)
    {
      g_assert_cmpstr (reply, ==, "pong");
      g_free (reply);
      n_replies++;
    }
  g_assert_cmpuint (n_replies, ==, 100);
  close (fd);

  g_assert_cmpint (finish (daemon, &out, &err), ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/tools/versions", test_versions);
  RABC_TEST_ADD ("/rabc/tools/end-to-end", test_end_to_end);
  RABC_TEST_ADD ("/rabc/tools/environment-socket", test_environment_socket);
  RABC_TEST_ADD ("/rabc/tools/rabcc-no-daemon", test_rabcc_no_daemon);
  RABC_TEST_ADD ("/rabc/tools/rabcc-reply-missing", test_rabcc_reply_missing);
  RABC_TEST_ADD ("/rabc/tools/rabcc-daemon-dies", test_rabcc_daemon_dies);
  RABC_TEST_ADD ("/rabc/tools/bad-options", test_bad_options);
  RABC_TEST_ADD ("/rabc/tools/rabcd-cannot-start", test_rabcd_cannot_start);
  RABC_TEST_ADD ("/rabc/tools/rabcd-already-running", test_rabcd_already_running);
  RABC_TEST_ADD ("/rabc/tools/rabcd-replaces-stale-socket", test_rabcd_replaces_stale_socket);
  RABC_TEST_ADD ("/rabc/tools/rabcc-json", test_rabcc_json);
  RABC_TEST_ADD ("/rabc/tools/rabcc-summary-on-terminal", test_rabcc_summary_on_terminal);
  RABC_TEST_ADD ("/rabc/tools/rabcd-socket-mode", test_rabcd_socket_mode);
  RABC_TEST_ADD ("/rabc/tools/socket-activation", test_socket_activation);
  RABC_TEST_ADD ("/rabc/tools/rabcc-reconnect", test_rabcc_reconnect);
  RABC_TEST_ADD ("/rabc/tools/rabcd-allow-uid", test_rabcd_allow_uid);
  RABC_TEST_ADD ("/rabc/tools/rabcc-first-message-at-once", test_rabcc_first_at_once);
  RABC_TEST_ADD ("/rabc/tools/rabcd-graceful-stop", test_rabcd_graceful_stop);
  RABC_TEST_ADD ("/rabc/tools/rabcd-echo", test_rabcd_echo);
  RABC_TEST_ADD ("/rabc/tools/rabcc-stopped-by-signal", test_rabcc_stopped_by_signal);
  RABC_TEST_ADD ("/rabc/tools/rabcc-json-summary-on-terminal",
                 test_rabcc_json_summary_on_terminal);

  return g_test_run ();
}
