/* rabc-connection-private.h: a framed, non-blocking Unix socket
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <gio/gio.h>
#include <poll.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef struct _RabcConnection RabcConnection;

/* The most bytes one read takes. */
#define RABC_CONNECTION_READ_SIZE (64 * 1024)

typedef struct {
  /* One complete, valid message.  Return FALSE to stop reading, for example
   * because the owner closed the connection. */
  gboolean (*message)    (RabcConnection *conn,
                          const char     *text,
                          gsize           len,
                          gpointer        user_data);
  /* The peer went away or broke the protocol.  Called once; the connection
   * is closed when it returns. */
  void     (*failed)     (RabcConnection *conn,
                          const GError   *error,
                          gpointer        user_data);
  /* The conditions to watch the socket for changed: G_IO_IN until the
   * peer has finished sending, G_IO_OUT while output is queued. */
  void     (*watch)      (RabcConnection *conn,
                          GIOCondition    events,
                          gpointer        user_data);
} RabcConnectionFuncs;

RabcConnection *rabc_connection_new             (int                        fd,
                                                 gsize                      max_message_size,
                                                 const RabcConnectionFuncs *funcs,
                                                 gpointer                   user_data);
RabcConnection *rabc_connection_ref             (RabcConnection            *conn);
void            rabc_connection_unref           (RabcConnection            *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RabcConnection, rabc_connection_unref)

int             rabc_connection_get_fd          (RabcConnection            *conn);
gpointer        rabc_connection_get_user_data   (RabcConnection            *conn);
gboolean        rabc_connection_is_closed       (RabcConnection            *conn);
gsize           rabc_connection_get_queued      (RabcConnection            *conn);
GIOCondition    rabc_connection_get_watched     (RabcConnection            *conn);
gsize           rabc_connection_get_allocated   (RabcConnection            *conn);
gboolean        rabc_connection_release_buffers (RabcConnection            *conn);
gboolean        rabc_connection_is_mid_frame    (RabcConnection            *conn);
gboolean        rabc_connection_is_receiving    (RabcConnection            *conn);
guint64         rabc_connection_get_bytes_moved (RabcConnection            *conn);
guint64         rabc_connection_get_bytes_received (RabcConnection         *conn);
void            rabc_connection_set_max_message_size (RabcConnection       *conn,
                                                 gsize                      max_message_size);
void            rabc_connection_set_read_policy (RabcConnection            *conn,
                                                 gsize                      read_size,
                                                 gsize                      read_budget,
                                                 gsize                      output_limit);
void            rabc_connection_set_paused      (RabcConnection            *conn,
                                                 gboolean                   paused);
void            rabc_connection_hold_output     (RabcConnection            *conn,
                                                 gboolean                   hold);
void            rabc_connection_set_owed        (RabcConnection            *conn,
                                                 guint                      owed);

gboolean        rabc_connection_queue_message   (RabcConnection            *conn,
                                                 const char                *text,
                                                 gsize                      len,
                                                 GError                   **error);
gboolean        rabc_connection_queue_checked   (RabcConnection            *conn,
                                                 const char                *text,
                                                 gsize                      len);
gboolean        rabc_connection_queue_frames    (RabcConnection            *conn,
                                                 const guint8              *frames,
                                                 gsize                      len);
void            rabc_connection_schedule_flush  (RabcConnection            *conn);
gboolean        rabc_connection_flush           (RabcConnection            *conn);
void            rabc_connection_handle_io       (RabcConnection            *conn,
                                                 GIOCondition               condition);
void            rabc_connection_handle_io_into  (RabcConnection            *conn,
                                                 GIOCondition               condition,
                                                 guint8                    *buffer,
                                                 gsize                      size);

/* A blocking wait for the socket, in three steps so that the owner may hold
 * its lock for the first and the last and let other threads queue output
 * during the second: see rabc_connection_wait_begin(). */
typedef struct {
  RabcConnection *conn;
  GCancellable   *cancellable;
  /* poll(2) the socket (and the cancellable), or wait in recv(2). */
  gboolean        polling;
  struct pollfd   fds[2];
  nfds_t          n_fds;
  int             timeout_ms;
  /* Where recv(2) receives, @buffer or the frame's own buffer, and how
   * much it asks for. */
  guint8         *target;
  gsize           wanted;
  /* What the system call returned, and its errno. */
  gssize          result;
  int             errsv;
  guint8          buffer[RABC_CONNECTION_READ_SIZE];
} RabcConnectionWait;

gboolean        rabc_connection_wait_begin      (RabcConnection            *conn,
                                                 RabcConnectionWait        *wait,
                                                 gint64                     deadline,
                                                 GCancellable              *cancellable,
                                                 const GPollFD             *cancel_fd,
                                                 GError                   **error);
void            rabc_connection_wait            (RabcConnectionWait        *wait);
gboolean        rabc_connection_wait_end        (RabcConnectionWait        *wait,
                                                 GError                   **error);
void            rabc_connection_close           (RabcConnection            *conn);

G_END_DECLS
