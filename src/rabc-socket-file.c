/* rabc-socket-file.c: the policy for a server's socket path
 *
 * A server owns its path through a lock file beside the socket, PATH.lock,
 * which it holds with flock(2) from before it looks at the path until after
 * it has removed its socket file: of many servers started at once on one
 * path, exactly one gets to probe, replace a stale socket and bind, and the
 * others fail at once.  This is how Wayland compositors own their sockets.
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rabc-error.h"
#include "rabc-socket-file-private.h"
#include "rabc-socket-private.h"

/* A lock file removed by the server that held it between our open(2) and
 * our flock(2) is locked in vain: open the new one and try again, this
 * many times. */
#define MAX_LOCK_ATTEMPTS 8

struct _RabcSocketFile {
  char  *path;
  char  *lock_path;
  int    lock_fd;
  dev_t  socket_dev;
  ino_t  socket_ino;
};

static gboolean
same_file (const struct stat *a,
           const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Opens and locks @lock_path.  Returns the descriptor, or -1 with @error
 * set: RABC_ERROR_ADDRESS_IN_USE when another server holds the lock. */
static int
take_lock (const char  *path,
           const char  *lock_path,
           GError     **error)
{
  for (guint attempt = 0; attempt < MAX_LOCK_ATTEMPTS; attempt++)
    {
      struct stat locked, named;
      int fd;

      /* O_NONBLOCK: a FIFO put there must not make open(2) wait. */
      fd = open (lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
      if (fd < 0)
        {
          int errsv = errno;

          g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                       "cannot open the lock file %s: %s", lock_path,
                       errsv == ELOOP ? "it is a symbolic link"
                       : errsv == EACCES ? "permission denied; another user's server may have made it"
                       : g_strerror (errsv));
          return -1;
        }

      if (fstat (fd, &locked) < 0 || !S_ISREG (locked.st_mode))
        {
          close (fd);
          g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                       "the lock file %s is not a regular file", lock_path);
          return -1;
        }

      if (flock (fd, LOCK_EX | LOCK_NB) < 0)
        {
          int errsv = errno;

          close (fd);
          if (errsv == EWOULDBLOCK)
            g_set_error (error, RABC_ERROR, RABC_ERROR_ADDRESS_IN_USE,
                         "a server is already listening on %s, or starting: it holds %s",
                         path, lock_path);
          else
            g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                         "cannot lock %s: %s", lock_path, g_strerror (errsv));
          return -1;
        }

      if (lstat (lock_path, &named) == 0 && same_file (&locked, &named))
        return fd;

      close (fd);
    }

  g_set_error (error, RABC_ERROR, RABC_ERROR_ADDRESS_IN_USE,
               "cannot lock %s: servers keep starting and stopping on %s",
               lock_path, path);
  return -1;
}

/* Makes the socket path free to bind, or says why it is not.  Called with
 * the lock held, so that no other server probes or binds meanwhile. */
static gboolean
prepare_path (const char  *path,
              GError     **error)
{
  struct stat st;

  if (lstat (path, &st) < 0)
    {
      int errsv = errno;

      if (errsv == ENOENT)
        return TRUE;
      g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                   "cannot use %s: %s", path, g_strerror (errsv));
      return FALSE;
    }

  if (!S_ISSOCK (st.st_mode))
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                   "%s exists and is not a socket; refusing to replace it", path);
      return FALSE;
    }

  switch (rabc_socket_probe (path, error))
    {
    case RABC_SOCKET_LISTENING:
      g_set_error (error, RABC_ERROR, RABC_ERROR_ADDRESS_IN_USE,
                   "a server is already listening on %s", path);
      return FALSE;

    case RABC_SOCKET_STALE:
      g_debug ("replacing the stale socket file %s", path);
      if (unlink (path) < 0 && errno != ENOENT)
        {
          int errsv = errno;
          g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                       "cannot remove the stale socket file %s: %s", path, g_strerror (errsv));
          return FALSE;
        }
      return TRUE;

    case RABC_SOCKET_UNKNOWN:
    default:
      return FALSE;
    }
}

static void
socket_file_free (RabcSocketFile *file)
{
  if (file->lock_fd >= 0)
    close (file->lock_fd);
  g_free (file->path);
  g_free (file->lock_path);
  g_free (file);
}

/*
 * rabc_socket_file_bind:
 *
 * Takes @path for a new server: locks PATH.lock, refuses when another
 * server holds the lock or answers on @path, or when @path exists and is
 * not a socket (a symbolic link included); replaces a socket file nobody
 * listens on; then binds a listening socket there with the permissions
 * @mode (see rabc_socket_listen()).
 *
 * Returns: (transfer full): the socket file, to be given to
 *   rabc_socket_file_release(), with *@listen_fd set to the listening
 *   socket; or NULL with @error set
 */
RabcSocketFile *
rabc_socket_file_bind (const char  *path,
                       guint        mode,
                       int         *listen_fd,
                       GError     **error)
{
  RabcSocketFile *file;
  struct stat st;

  if (!rabc_socket_check_path (path, error))
    return NULL;

  file = g_new0 (RabcSocketFile, 1);
  file->path = g_strdup (path);
  file->lock_path = g_strconcat (path, ".lock", NULL);
  file->lock_fd = take_lock (path, file->lock_path, error);
  if (file->lock_fd < 0)
    {
      socket_file_free (file);
      return NULL;
    }

  if (!prepare_path (path, error))
    {
      rabc_socket_file_release (file);
      return NULL;
    }

  *listen_fd = rabc_socket_listen (path, mode, error);
  if (*listen_fd < 0)
    {
      rabc_socket_file_release (file);
      return NULL;
    }

  if (lstat (path, &st) == 0)
    {
      file->socket_dev = st.st_dev;
      file->socket_ino = st.st_ino;
    }

  return file;
}

/*
 * rabc_socket_file_release:
 *
 * Removes the socket file and the lock file, each only if it is still the
 * one this server made, then releases the lock.
 */
void
rabc_socket_file_release (RabcSocketFile *file)
{
  struct stat st, locked;

  if (file->socket_ino != 0 &&
      lstat (file->path, &st) == 0 && S_ISSOCK (st.st_mode) &&
      st.st_dev == file->socket_dev && st.st_ino == file->socket_ino)
    unlink (file->path);

  if (fstat (file->lock_fd, &locked) == 0 &&
      lstat (file->lock_path, &st) == 0 && same_file (&locked, &st))
    unlink (file->lock_path);

  socket_file_free (file);
}
