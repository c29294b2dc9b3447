/* rabc-connection.c: a framed, non-blocking Unix socket
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stddef.h>
#include <unistd.h>

#include "rabc-connection-private.h"
#include "rabc-error.h"
#include "rabc-frame-private.h"

/* Bytes read per read(2).  Whole frames are decoded straight from this
 * buffer, so it lives on the stack and idle connections cost nothing. */
#define READ_CHUNK_SIZE (64 * 1024)

struct _RabcConnection {
  int                        fd;
  guint                      ref_count;
  gboolean                   closed;
  /* The peer finished sending; what is owed to it is still being written. */
  gboolean                   read_closed;
  GIOCondition               watched;
  RabcFrameDecoder           decoder;
  GByteArray                *out;
  gsize                      out_pos;
  const RabcConnectionFuncs *funcs;
  gpointer                   user_data;
  /* SO_RCVTIMEO in milliseconds, 0 for none: see iterate_sync(). */
  gint64                     receive_timeout_ms;
};

RabcConnection *
rabc_connection_new (int                        fd,
                     gsize                      max_message_size,
                     const RabcConnectionFuncs *funcs,
                     gpointer                   user_data)
{
  RabcConnection *conn = g_new0 (RabcConnection, 1);

  conn->fd = fd;
  conn->ref_count = 1;
  conn->watched = G_IO_IN;
  conn->funcs = funcs;
  conn->user_data = user_data;
  rabc_frame_decoder_init (&conn->decoder, max_message_size);

  return conn;
}

RabcConnection *
rabc_connection_ref (RabcConnection *conn)
{
  conn->ref_count++;
  return conn;
}

void
rabc_connection_unref (RabcConnection *conn)
{
  if (--conn->ref_count > 0)
    return;

  rabc_connection_close (conn);
  rabc_frame_decoder_clear (&conn->decoder);
  g_free (conn);
}

int
rabc_connection_get_fd (RabcConnection *conn)
{
  return conn->fd;
}

gpointer
rabc_connection_get_user_data (RabcConnection *conn)
{
  return conn->user_data;
}

gboolean
rabc_connection_is_closed (RabcConnection *conn)
{
  return conn->closed;
}

gsize
rabc_connection_get_queued (RabcConnection *conn)
{
  return conn->out != NULL ? conn->out->len - conn->out_pos : 0;
}

void
rabc_connection_set_max_message_size (RabcConnection *conn,
                                      gsize           max_message_size)
{
  conn->decoder.max_size = max_message_size;
}

/*
 * rabc_connection_close:
 *
 * Closes the socket without calling any callback and drops queued output.
 */
void
rabc_connection_close (RabcConnection *conn)
{
  if (conn->closed)
    return;

  conn->closed = TRUE;
  if (conn->fd >= 0)
    close (conn->fd);
  conn->fd = -1;
  g_clear_pointer (&conn->out, g_byte_array_unref);
  conn->out_pos = 0;
  rabc_frame_decoder_clear (&conn->decoder);
}

static void
connection_fail (RabcConnection *conn,
                 GError         *error)
{
  if (conn->closed)
    {
      g_error_free (error);
      return;
    }

  rabc_connection_ref (conn);
  conn->funcs->failed (conn, error, conn->user_data);
  rabc_connection_close (conn);
  rabc_connection_unref (conn);
  g_error_free (error);
}

static GError *
peer_closed_error (RabcConnection *conn)
{
  if (rabc_frame_decoder_is_idle (&conn->decoder))
    return g_error_new_literal (RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                                "connection closed by the peer");
  return g_error_new_literal (RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                              "connection closed by the peer in the middle of a message");
}

static void
update_watch (RabcConnection *conn)
{
  GIOCondition events = 0;

  if (conn->closed)
    return;

  if (!conn->read_closed)
    events |= G_IO_IN;
  if (rabc_connection_get_queued (conn) > 0)
    events |= G_IO_OUT;

  if (events != conn->watched)
    {
      conn->watched = events;
      conn->funcs->watch (conn, events, conn->user_data);
    }
}

gboolean
rabc_connection_queue_message (RabcConnection  *conn,
                               const char      *text,
                               gsize            len,
                               GError         **error)
{
  if (conn->closed)
    {
      g_set_error_literal (error, RABC_ERROR, RABC_ERROR_CLOSED,
                           "the connection is closed");
      return FALSE;
    }

  if (!rabc_frame_check (text, len, conn->decoder.max_size, error))
    return FALSE;

  if (conn->out == NULL)
    conn->out = g_byte_array_sized_new (RABC_FRAME_HEADER_SIZE + len);
  rabc_frame_encode (conn->out, text, len);
  return TRUE;
}

/* Appends already encoded frames, such as a server's fixed reply. */
void
rabc_connection_queue_frames (RabcConnection *conn,
                              const guint8   *frames,
                              gsize           len)
{
  if (conn->closed)
    return;

  if (conn->out == NULL)
    conn->out = g_byte_array_sized_new (len);
  g_byte_array_append (conn->out, frames, len);
}

/*
 * rabc_connection_flush:
 *
 * Writes queued output until it is drained or the socket would block; in the
 * second case the owner is asked to watch for G_IO_OUT.
 *
 * Returns: FALSE if the connection failed (the failed callback has run)
 */
gboolean
rabc_connection_flush (RabcConnection *conn)
{
  if (conn->closed)
    return FALSE;

  while (rabc_connection_get_queued (conn) > 0)
    {
      ssize_t n = send (conn->fd, conn->out->data + conn->out_pos,
                        conn->out->len - conn->out_pos, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;
          if (errsv == EAGAIN || errsv == EWOULDBLOCK)
            {
              update_watch (conn);
              return TRUE;
            }

          if (errsv == EPIPE || errsv == ECONNRESET)
            connection_fail (conn, peer_closed_error (conn));
          else
            connection_fail (conn, g_error_new (RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                                                "cannot write to socket: %s",
                                                g_strerror (errsv)));
          return FALSE;
        }

      conn->out_pos += n;
    }

  /* Drained: keep a small buffer for the next message, free a large one. */
  if (conn->out != NULL)
    {
      if (conn->out->len > 4096)
        g_clear_pointer (&conn->out, g_byte_array_unref);
      else
        g_byte_array_set_size (conn->out, 0);
    }
  conn->out_pos = 0;

  /* Everything owed to a peer that finished sending is written. */
  if (conn->read_closed)
    {
      connection_fail (conn, peer_closed_error (conn));
      return FALSE;
    }

  update_watch (conn);
  return TRUE;
}

static gboolean
on_frame (const char *text,
          gsize       len,
          gpointer    user_data)
{
  RabcConnection *conn = user_data;

  if (conn->closed)
    return FALSE;

  return conn->funcs->message (conn, text, len, conn->user_data) && !conn->closed;
}

/* Reads once and decodes what came: without waiting when @flags is
 * MSG_DONTWAIT, or waiting as the socket's mode and SO_RCVTIMEO say. */
static void
read_available (RabcConnection *conn,
                int             flags)
{
  guint8 buffer[READ_CHUNK_SIZE];
  GError *error = NULL;
  ssize_t n;

  do
    n = recv (conn->fd, buffer, sizeof buffer, flags);
  while (n < 0 && errno == EINTR);

  if (n < 0)
    {
      int errsv = errno;

      if (errsv == EAGAIN || errsv == EWOULDBLOCK)
        return;
      /* A peer that closes with our data unread resets the connection. */
      if (errsv == ECONNRESET)
        connection_fail (conn, peer_closed_error (conn));
      else
        connection_fail (conn, g_error_new (RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                                            "cannot read from socket: %s",
                                            g_strerror (errsv)));
      return;
    }

  if (n == 0)
    {
      /* A peer that shut down only its sending side still gets what it is
       * owed: stop reading, and close once the output is written. */
      if (rabc_frame_decoder_is_idle (&conn->decoder) && rabc_connection_get_queued (conn) > 0)
        {
          conn->read_closed = TRUE;
          update_watch (conn);
        }
      else
        connection_fail (conn, peer_closed_error (conn));
      return;
    }

  if (!rabc_frame_decoder_feed (&conn->decoder, buffer, n, on_frame, conn, &error))
    {
      /* Replies to the messages before the bad one are owed all the same. */
      rabc_connection_flush (conn);
      connection_fail (conn, error);
    }
}

/*
 * rabc_connection_handle_io:
 *
 * Handles readiness reported by the owner's watch: reads what one read(2)
 * returns and delivers every complete message, then writes queued output.
 */
void
rabc_connection_handle_io (RabcConnection *conn,
                           GIOCondition    condition)
{
  if (conn->closed)
    return;

  rabc_connection_ref (conn);

  if (!conn->read_closed && (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
    read_available (conn, MSG_DONTWAIT);

  if (!conn->closed && (condition & (G_IO_OUT | G_IO_IN | G_IO_HUP | G_IO_ERR)))
    rabc_connection_flush (conn);

  if (!conn->closed && (condition & G_IO_NVAL))
    connection_fail (conn, g_error_new_literal (RABC_ERROR, RABC_ERROR_BUG,
                                                "socket descriptor is no longer valid"));

  rabc_connection_unref (conn);
}

static gboolean
set_timed_out (GError **error)
{
  g_set_error_literal (error, RABC_ERROR, RABC_ERROR_TIMED_OUT,
                       "timed out waiting for a reply");
  return FALSE;
}

/* Makes a blocking recv(2) return by @deadline.  Changing SO_RCVTIMEO costs
 * a system call, so a timeout that ends no later than the deadline, and not
 * much sooner, is kept: a caller with the same timeout every time pays once. */
static gboolean
set_receive_timeout (RabcConnection  *conn,
                     gint64           deadline,
                     GError         **error)
{
  gint64 timeout_ms = 0;
  struct timeval tv;

  if (deadline >= 0)
    {
      gint64 remaining = deadline - g_get_monotonic_time ();

      if (remaining <= 0)
        return set_timed_out (error);
      timeout_ms = (remaining + 999) / 1000;
    }

  if (timeout_ms == conn->receive_timeout_ms ||
      (timeout_ms > 0 && conn->receive_timeout_ms > 0 &&
       conn->receive_timeout_ms < timeout_ms &&
       conn->receive_timeout_ms >= timeout_ms / 2))
    return TRUE;

  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  if (setsockopt (conn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
    {
      int errsv = errno;
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot set a receive timeout: %s", g_strerror (errsv));
      return FALSE;
    }
  conn->receive_timeout_ms = timeout_ms;
  return TRUE;
}

/*
 * rabc_connection_iterate_sync:
 *
 * Blocks until the socket is ready, then handles it once.  Used by
 * synchronous calls, which must work without a running main loop; the
 * socket must be in blocking mode (rabc_socket_connect() leaves it so).
 *
 * Returns: FALSE with @error set on timeout (@deadline, monotonic time, or
 *   -1 for none) or cancellation
 */
gboolean
rabc_connection_iterate_sync (RabcConnection  *conn,
                              gint64           deadline,
                              GCancellable    *cancellable,
                              GError         **error)
{
  struct pollfd fds[2];
  nfds_t n_fds = 1;
  int timeout_ms = -1;
  int n;

  if (conn->closed)
    {
      g_set_error_literal (error, RABC_ERROR, RABC_ERROR_CLOSED,
                           "the connection is closed");
      return FALSE;
    }

  /* Only a reply to wait for: wait in recv(2) itself, a system call fewer
   * than poll(2) first.  A timeout ends it early with EAGAIN, and the next
   * call finds the deadline passed. */
  if (cancellable == NULL && conn->watched == G_IO_IN)
    {
      if (!set_receive_timeout (conn, deadline, error))
        return FALSE;
      rabc_connection_ref (conn);
      read_available (conn, 0);
      rabc_connection_unref (conn);
      return TRUE;
    }

  fds[0].fd = conn->fd;
  fds[0].events = ((conn->watched & G_IO_IN) ? POLLIN : 0) |
                  ((conn->watched & G_IO_OUT) ? POLLOUT : 0);
  fds[0].revents = 0;
  if (g_cancellable_make_pollfd (cancellable, (GPollFD *) &fds[1]))
    n_fds = 2;

  if (deadline >= 0)
    {
      gint64 remaining = deadline - g_get_monotonic_time ();

      timeout_ms = remaining > 0 ? (int) ((remaining + 999) / 1000) : 0;
    }

  do
    n = poll (fds, n_fds, timeout_ms);
  while (n < 0 && errno == EINTR);

  if (n_fds == 2)
    g_cancellable_release_fd (cancellable);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  if (n == 0)
    return set_timed_out (error);

  if (n > 0 && fds[0].revents != 0)
    {
      GIOCondition condition = 0;

      if (fds[0].revents & POLLIN) condition |= G_IO_IN;
      if (fds[0].revents & POLLOUT) condition |= G_IO_OUT;
      if (fds[0].revents & POLLHUP) condition |= G_IO_HUP;
      if (fds[0].revents & POLLERR) condition |= G_IO_ERR;
      if (fds[0].revents & POLLNVAL) condition |= G_IO_NVAL;
      rabc_connection_handle_io (conn, condition);
    }

  return TRUE;
}

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
 * rabc_connection_iterate_sync(); every other read and write of a
 * connection passes MSG_DONTWAIT.
 *
 * Returns: the descriptor, or -1 with @error set
 */
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
      close (fd);
      if (errsv == EAGAIN)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                     "cannot connect to %s: %s", path, g_strerror (errsv));
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
 * Gets the process and user at the other end of a connected Unix socket.
 */
gboolean
rabc_socket_get_peer (int    fd,
                      pid_t *pid,
                      uid_t *uid)
{
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return FALSE;

  *pid = cred.pid;
  *uid = cred.uid;
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

/* GLib blocks a source that cannot recurse for the length of each dispatch,
 * which takes its descriptors out of the context and puts them back, waking
 * the context twice per dispatch.  This source may recurse instead, and
 * guards itself: dispatched again from a nested main loop, it stops
 * watching until the outer dispatch is over, so that reads never reorder. */
typedef struct {
  GSource      source;
  gpointer     tag;
  GIOCondition events;
  gboolean     dispatching;
  gboolean     blocked;
} FdSource;

static gboolean
fd_source_dispatch (GSource     *source,
                    GSourceFunc  callback,
                    gpointer     user_data)
{
  FdSource *self = (FdSource *) source;
  GIOCondition condition;
  gboolean result;

  if (callback == NULL)
    return G_SOURCE_REMOVE;

  if (self->dispatching)
    {
      if (!self->blocked)
        {
          self->blocked = TRUE;
          g_source_modify_unix_fd (source, self->tag, 0);
        }
      return G_SOURCE_CONTINUE;
    }

  condition = g_source_query_unix_fd (source, self->tag);
  self->dispatching = TRUE;
  result = ((RabcFdSourceFunc) (void (*) (void)) callback) (condition, user_data);
  self->dispatching = FALSE;

  if (self->blocked)
    {
      self->blocked = FALSE;
      if (!g_source_is_destroyed (source))
        g_source_modify_unix_fd (source, self->tag, self->events);
    }

  return result;
}

static GSourceFuncs fd_source_funcs = {
  .dispatch = fd_source_dispatch,
};

GSource *
rabc_fd_source_new (int          fd,
                    GIOCondition events)
{
  GSource *source = g_source_new (&fd_source_funcs, sizeof (FdSource));
  FdSource *self = (FdSource *) source;

  self->events = events;
  self->tag = g_source_add_unix_fd (source, fd, events);
  g_source_set_can_recurse (source, TRUE);
  g_source_set_static_name (source, "[rabc] socket");
  return source;
}

void
rabc_fd_source_set_events (GSource      *source,
                           GIOCondition  events)
{
  FdSource *self = (FdSource *) source;

  self->events = events;
  if (!self->blocked)
    g_source_modify_unix_fd (source, self->tag, events);
}

void
rabc_clear_source (GSource **source)
{
  if (*source == NULL)
    return;

  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}
