/* rabc-test-util.c: shared helpers of the C tests
 *
 * SPDX-License-Identifier: MIT
 */

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rabc-lock-private.h"
#include "rabc-test-util.h"

char *
rabc_test_make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("rabc-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (GFile *file)
{
  g_autoptr(GFileEnumerator) children = NULL;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  if (children != NULL)
    {
      GFileInfo *info;

      while ((info = g_file_enumerator_next_file (children, NULL, NULL)) != NULL)
        {
          g_autoptr(GFile) child = g_file_get_child (file, g_file_info_get_name (info));

          if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
            remove_tree (child);
          else
            g_file_delete (child, NULL, NULL);
          g_object_unref (info);
        }
    }
  g_file_delete (file, NULL, NULL);
}

void
rabc_test_remove_tmpdir (const char *dir)
{
  g_autoptr(GFile) file = g_file_new_for_path (dir);

  remove_tree (file);
}

void
rabc_test_fixture_setup (RabcTestFixture *fixture,
                         gconstpointer    data)
{
  fixture->dir = rabc_test_make_tmpdir ();
  fixture->path = g_build_filename (fixture->dir, "rabc.sock", NULL);
}

void
rabc_test_fixture_teardown (RabcTestFixture *fixture,
                            gconstpointer    data)
{
  rabc_test_remove_tmpdir (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->path);
}

static gboolean
on_timeout (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

void
rabc_test_wait_for (const gboolean *flag,
                    guint           timeout_ms)
{
  GMainContext *context = g_main_context_get_thread_default ();
  gboolean timed_out = FALSE;
  guint id;

  id = g_timeout_add (timeout_ms, on_timeout, &timed_out);
  while (!*flag && !timed_out)
    g_main_context_iteration (context, TRUE);
  if (!timed_out)
    g_source_remove (id);

  if (!*flag)
    g_error ("timed out after %u ms", timeout_ms);
}

void
rabc_test_run_for (guint ms)
{
  gboolean timed_out = FALSE;

  g_timeout_add (ms, on_timeout, &timed_out);
  while (!timed_out)
    g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
}

void
rabc_test_store_result (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  GAsyncResult **out = user_data;

  g_assert_null (*out);
  *out = g_object_ref (result);
}

struct _RabcTestServerThread {
  char                *socket_path;
  RabcTestServerSetup  setup;
  gpointer             setup_data;
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  RabcMutex     mutex;
  GCond         cond;
  gboolean      ready;
};

static gpointer
server_thread_main (gpointer user_data)
{
  RabcTestServerThread *self = user_data;
  g_autoptr(RabcServer) server = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (self->context);

  server = rabc_server_new (self->socket_path);
  if (self->setup != NULL)
    self->setup (server, self->setup_data);
  rabc_server_start (server, &error);
  g_assert_no_error (error);

  rabc_mutex_lock (&self->mutex);
  self->ready = TRUE;
  g_cond_signal (&self->cond);
  rabc_mutex_unlock (&self->mutex);

  g_main_loop_run (self->loop);

  rabc_server_stop (server);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

RabcTestServerThread *
rabc_test_server_thread_new (const char *socket_path)
{
  return rabc_test_server_thread_new_full (socket_path, NULL, NULL);
}

RabcTestServerThread *
rabc_test_server_thread_new_full (const char          *socket_path,
                                  RabcTestServerSetup  setup,
                                  gpointer             user_data)
{
  RabcTestServerThread *self = g_new0 (RabcTestServerThread, 1);

  self->socket_path = g_strdup (socket_path);
  self->setup = setup;
  self->setup_data = user_data;
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  rabc_mutex_init (&self->mutex);
  g_cond_init (&self->cond);
  self->thread = g_thread_new ("rabc-test-server", server_thread_main, self);

  rabc_mutex_lock (&self->mutex);
  while (!self->ready)
    rabc_cond_wait (&self->cond, &self->mutex);
  rabc_mutex_unlock (&self->mutex);

  return self;
}

static gboolean
quit_loop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

void
rabc_test_server_thread_free (RabcTestServerThread *self)
{
  g_main_context_invoke (self->context, quit_loop, self->loop);
  g_thread_join (self->thread);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  rabc_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  g_free (self->socket_path);
  g_free (self);
}

struct _RabcTestPeer {
  char             *socket_path;
  int               listen_fd;
  RabcTestPeerFunc  func;
  gpointer          user_data;
  GThread          *thread;
};

static gpointer
peer_thread_main (gpointer user_data)
{
  RabcTestPeer *self = user_data;
  int fd = accept (self->listen_fd, NULL, NULL);

  g_assert_cmpint (fd, >=, 0);
  self->func (fd, self->user_data);
  close (fd);
  return NULL;
}

RabcTestPeer *
rabc_test_peer_new (const char       *socket_path,
                    RabcTestPeerFunc  func,
                    gpointer          user_data)
{
  RabcTestPeer *self = g_new0 (RabcTestPeer, 1);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  g_assert_cmpuint (strlen (socket_path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, socket_path);

  self->socket_path = g_strdup (socket_path);
  self->func = func;
  self->user_data = user_data;
  self->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (self->listen_fd, >=, 0);
  g_assert_cmpint (bind (self->listen_fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (self->listen_fd, 8), ==, 0);
  self->thread = g_thread_new ("rabc-test-peer", peer_thread_main, self);

  return self;
}

void
rabc_test_peer_free (RabcTestPeer *self)
{
  g_thread_join (self->thread);
  close (self->listen_fd);
  unlink (self->socket_path);
  g_free (self->socket_path);
  g_free (self);
}

void
rabc_test_silent_peer (int      fd,
                       gpointer user_data)
{
  rabc_test_read_until_eof (fd, 30000);
}

int
rabc_test_connect_raw (const char *socket_path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  strcpy (addr.sun_path, socket_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

void
rabc_test_write_all (int         fd,
                     const void *data,
                     gsize       len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return;   /* the other side went away: the test checks for that */
      p += n;
      len -= n;
    }
}

void
rabc_test_write_frame (int         fd,
                       const char *text,
                       gsize       len)
{
  guint64 header = len;

  rabc_test_write_all (fd, &header, sizeof header);
  rabc_test_write_all (fd, text, len);
}

static gboolean
read_exactly (int    fd,
              void  *buffer,
              gsize  len)
{
  guint8 *p = buffer;

  while (len > 0)
    {
      ssize_t n = read (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= n;
    }
  return TRUE;
}

/* One frame's payload, NUL-terminated, and its length in *@len; NULL at
 * end of stream. */
static char *
read_frame_data (int    fd,
                 gsize *len)
{
  guint64 header;
  char *data;

  if (!read_exactly (fd, &header, sizeof header))
    return NULL;
  g_assert_cmpuint (header, <, 16 * 1024 * 1024);
  data = g_malloc0 (header + 1);
  if (!read_exactly (fd, data, header))
    {
      g_free (data);
      return NULL;
    }
  *len = header;
  return data;
}

char *
rabc_test_read_frame (int fd)
{
  gsize len;

  return read_frame_data (fd, &len);
}

GBytes *
rabc_test_read_frame_bytes (int fd)
{
  gsize len;
  char *data = read_frame_data (fd, &len);

  return data != NULL ? g_bytes_new_take (data, len) : NULL;
}

void
rabc_test_echo_peer (int      fd,
                     gpointer user_data)
{
  GBytes *frame;

  while ((frame = rabc_test_read_frame_bytes (fd)) != NULL)
    {
      gsize len;
      const char *data = g_bytes_get_data (frame, &len);

      rabc_test_write_frame (fd, data, len);
      g_bytes_unref (frame);
    }
}

gboolean
rabc_test_read_until_eof (int   fd,
                          guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 remaining = deadline - g_get_monotonic_time ();
      char buffer[4096];
      ssize_t n;

      if (remaining <= 0)
        return FALSE;
      if (poll (&pfd, 1, (int) (remaining / 1000) + 1) <= 0)
        continue;
      n = read (fd, buffer, sizeof buffer);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        return TRUE;
    }
}

/* A "Name:   1234 kB" line of /proc/PID/status, in KiB. */
guint64
rabc_test_read_status_kib (pid_t       pid,
                           const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *status = NULL;
  g_autoptr(GError) error = NULL;
  const char *line;

  g_file_get_contents (path, &status, NULL, &error);
  g_assert_no_error (error);
  line = strstr (status, field);
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (field), NULL, 10);
}

/* Resets VmHWM to the current VmRSS (proc(5), clear_refs "5"), so that the
 * peak of what comes next alone can be read.  Returns FALSE where that is
 * not allowed: the caller then samples VmRSS at the worst moment. */
gboolean
rabc_test_reset_peak_rss (pid_t pid)
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

gboolean
rabc_test_get_user (const char *name,
                    uid_t      *uid,
                    gid_t      *gid)
{
  struct passwd *pw = getpwnam (name);

  if (pw == NULL && geteuid () == 0)
    {
      const char *argv[] = { "useradd", "--system", "--no-create-home",
                             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                             name, NULL };
      g_autoptr(GError) error = NULL;
      int status = 0;

      /* A test running at the same time may create it meanwhile:
       * getpwnam() says. */
      if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                         NULL, NULL, &status, &error) ||
          !g_spawn_check_wait_status (status, &error))
        g_test_message ("cannot create the user %s: %s", name, error->message);
      pw = getpwnam (name);
    }
  if (pw == NULL)
    return FALSE;

  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  return TRUE;
}
