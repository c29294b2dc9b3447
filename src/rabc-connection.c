/* rabc-connection.c: a framed, non-blocking Unix socket
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
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
