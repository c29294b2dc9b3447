/* rabc-socket.c: the socket system calls of librabc
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stddef.h>
#include <unistd.h>

#include "rabc-error.h"
#include "rabc-socket-private.h"

static gboolean
fill_address (struct sockaddr_un  *addr,
              const char          *path,
              GError             **error)
{
  gsize len = strlen (path);

  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;

  if (len == 0)
    {
      g_set_error_literal (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                           "the socket path is empty");
      return FALSE;
    }

  if (len >= sizeof addr->sun_path)
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                   "socket path %s is too long: %" G_GSIZE_FORMAT " bytes, the limit is %"
                   G_GSIZE_FORMAT, path, len, sizeof addr->sun_path - 1);
      return FALSE;
    }

  memcpy (addr->sun_path, path, len);
  return TRUE;
}

/*
 * rabc_socket_check_path:
 *
 * Checks that @path can name a Unix socket: not empty, and short enough.
 */
gboolean
rabc_socket_check_path (const char  *path,
                        GError     **error)
{
  struct sockaddr_un addr;

  return fill_address (&addr, path, error);
}

static int
open_socket (GError **error)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot create a socket: %s", g_strerror (errsv));
    }
  return fd;
}

/* Connects @fd without waiting. Returns 0, or the errno of connect(2). */
static int
connect_address (int                       fd,
                 const struct sockaddr_un *addr)
{
  while (connect (fd, (const struct sockaddr *) addr, sizeof *addr) < 0)
    {
      if (errno != EINTR)
        return errno;
    }
  return 0;
}

/*
 * rabc_socket_connect:
 *
 * Connects a socket to @path without waiting.  A listener whose backlog is
 * full answers EAGAIN: that is reported as G_IO_ERROR_WOULD_BLOCK, for the
 * caller to retry.  The connected socket is left in blocking mode for
 * rabc_connection_wait(); every other read and write of a connection
 * passes MSG_DONTWAIT.
 *
 * Returns: the descriptor, or -1 with @error set
 */
/* What is at @path when it is there and is not a socket, such as "a
 * directory", or NULL. */
static const char *
describe_not_socket (const char *path)
{
  struct stat st;

  /* connect(2) follows symbolic links, and so does this. */
  if (stat (path, &st) < 0 || S_ISSOCK (st.st_mode))
    return NULL;
  if (S_ISDIR (st.st_mode))
    return "a directory";
  if (S_ISREG (st.st_mode))
    return "a regular file";
  return "a special file";
}

int
rabc_socket_connect (const char  *path,
                     GError     **error)
{
  struct sockaddr_un addr;
  int errsv;
  int fd;

  if (!fill_address (&addr, path, error))
    return -1;

  fd = open_socket (error);
  if (fd < 0)
    return -1;

  errsv = connect_address (fd, &addr);
  if (errsv != 0)
    {
      const char *not_socket = errsv == ECONNREFUSED ? describe_not_socket (path) : NULL;

      close (fd);
      if (errsv == EAGAIN)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                     "cannot connect to %s: %s", path, g_strerror (errsv));
      else if (not_socket != NULL)
        /* connect(2) says only "Connection refused". */
        g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                     "cannot connect to %s: it is %s, not a socket", path, not_socket);
      else
        g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                     "cannot connect to %s: %s", path, g_strerror (errsv));
      return -1;
    }

  if (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK) < 0)
    {
      int errsv = errno;
      close (fd);
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot connect to %s: %s", path, g_strerror (errsv));
      return -1;
    }

  return fd;
}

/*
 * rabc_socket_probe:
 *
 * Tells whether a server listens on the socket file at @path.
 *
 * Returns: RABC_SOCKET_LISTENING, RABC_SOCKET_STALE when nobody does (the
 *   connection was refused), or RABC_SOCKET_UNKNOWN with @error set
 */
RabcSocketState
rabc_socket_probe (const char  *path,
                   GError     **error)
{
  struct sockaddr_un addr;
  int errsv;
  int fd;

  if (!fill_address (&addr, path, error))
    return RABC_SOCKET_UNKNOWN;

  fd = open_socket (error);
  if (fd < 0)
    return RABC_SOCKET_UNKNOWN;

  errsv = connect_address (fd, &addr);
  close (fd);

  switch (errsv)
    {
    case 0:
    case EAGAIN:
      return RABC_SOCKET_LISTENING;
    case ECONNREFUSED:
      return RABC_SOCKET_STALE;
    default:
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot tell whether a server listens on %s: %s",
                   path, g_strerror (errsv));
      return RABC_SOCKET_UNKNOWN;
    }
}

/*
 * rabc_socket_listen:
 *
 * Binds a non-blocking listening socket at @path, which must not exist, with
 * the permissions @mode.  The socket's own mode is set before bind(2), which
 * creates the file with it (less the umask): the file is never more open
 * than asked, not even for a moment.
 */
int
rabc_socket_listen (const char  *path,
                    guint        mode,
                    GError     **error)
{
  struct sockaddr_un addr;
  struct stat st;
  int fd;

  if (!fill_address (&addr, path, error))
    return -1;

  fd = open_socket (error);
  if (fd < 0)
    return -1;

  if (fchmod (fd, mode & 0777) < 0 ||
      bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int errsv = errno;
      close (fd);
      g_set_error (error, RABC_ERROR,
                   errsv == EADDRINUSE ? RABC_ERROR_ADDRESS_IN_USE : RABC_ERROR_IPC_CONNECTION,
                   "cannot bind to %s: %s", path, g_strerror (errsv));
      return -1;
    }

  /* The umask may have taken away permissions that were asked for. */
  if (lstat (path, &st) == 0 && (st.st_mode & 0777) != (mode & 0777) &&
      fchmodat (AT_FDCWD, path, mode & 0777, AT_SYMLINK_NOFOLLOW) < 0)
    {
      int errsv = errno;
      unlink (path);
      close (fd);
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot set the permissions of %s: %s", path, g_strerror (errsv));
      return -1;
    }

  if (listen (fd, SOMAXCONN) < 0)
    {
      int errsv = errno;
      unlink (path);
      close (fd);
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot listen on %s: %s", path, g_strerror (errsv));
      return -1;
    }

  return fd;
}

/*
 * rabc_socket_check_listener:
 *
 * Checks that @fd, handed over by a service manager, is a listening Unix
 * stream socket, and makes it non-blocking.
 *
 * Returns: (transfer full) (nullable): the path it is bound to, "" for an
 *   unnamed socket; NULL with @error set if @fd does not fit
 */
char *
rabc_socket_check_listener (int      fd,
                            GError **error)
{
  struct sockaddr_un addr;
  socklen_t addr_len = sizeof addr;
  int domain = 0, type = 0, listening = 0;
  socklen_t len = sizeof (int);
  int flags;

  if (getsockopt (fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
      getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
      getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
    {
      int errsv = errno;
      g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                   "descriptor %d is not a socket: %s", fd, g_strerror (errsv));
      return NULL;
    }

  if (domain != AF_UNIX || type != SOCK_STREAM || !listening)
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                   "descriptor %d is not a listening Unix stream socket", fd);
      return NULL;
    }

  flags = fcntl (fd, F_GETFL);
  if (flags < 0 || fcntl (fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      fcntl (fd, F_SETFD, FD_CLOEXEC) < 0)
    {
      int errsv = errno;
      g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                   "cannot make descriptor %d non-blocking: %s", fd, g_strerror (errsv));
      return NULL;
    }

  memset (&addr, 0, sizeof addr);
  if (getsockname (fd, (struct sockaddr *) &addr, &addr_len) == 0 &&
      addr_len > offsetof (struct sockaddr_un, sun_path) && addr.sun_path[0] != '\0')
    return g_strndup (addr.sun_path, addr_len - offsetof (struct sockaddr_un, sun_path));

  return g_strdup ("");
}

/*
 * rabc_socket_get_peer:
 *
 * Gets the process, user and group at the other end of a connected Unix
 * socket, as they were when it connected; @gid may be NULL.
 */
gboolean
rabc_socket_get_peer (int    fd,
                      pid_t *pid,
                      uid_t *uid,
                      gid_t *gid)
{
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return FALSE;

  *pid = cred.pid;
  *uid = cred.uid;
  if (gid != NULL)
    *gid = cred.gid;
  return TRUE;
}

/*
 * rabc_socket_accept:
 *
 * Returns: a new non-blocking descriptor, or -1: with @error unset when no
 *   connection is waiting, set otherwise (G_IO_ERROR_TOO_MANY_OPEN_FILES when
 *   out of descriptors).
 */
int
rabc_socket_accept (int      listen_fd,
                    GError **error)
{
  for (;;)
    {
      int fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      int errsv;

      if (fd >= 0)
        return fd;

      errsv = errno;
      switch (errsv)
        {
        case EINTR:
        case ECONNABORTED:
          continue;
        case EAGAIN:
#if EAGAIN != EWOULDBLOCK
        case EWOULDBLOCK:
#endif
          return -1;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES,
                       "cannot accept a connection: %s", g_strerror (errsv));
          return -1;
        default:
          g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                       "cannot accept a connection: %s", g_strerror (errsv));
          return -1;
        }
    }
}


/*
 * rabc_socket_condition_from_poll:
 * @revents: what poll(2) or epoll_wait(2) reported for a descriptor
 *
 * Returns: the same as a GIOCondition
 */
GIOCondition
rabc_socket_condition_from_poll (guint revents)
{
  GIOCondition condition = 0;

  /* epoll(7) uses poll(2)'s values for these. */
  G_STATIC_ASSERT (EPOLLIN == POLLIN && EPOLLOUT == POLLOUT &&
                   EPOLLHUP == POLLHUP && EPOLLERR == POLLERR);

  if (revents & POLLIN) condition |= G_IO_IN;
  if (revents & POLLOUT) condition |= G_IO_OUT;
  if (revents & POLLHUP) condition |= G_IO_HUP;
  if (revents & POLLERR) condition |= G_IO_ERR;
  if (revents & POLLNVAL) condition |= G_IO_NVAL;
  return condition;
}
