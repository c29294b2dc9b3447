/* rabc-client.c: a client of the rabc daemon
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "rabc-client.h"
#include "rabc-connection-private.h"
#include "rabc-deadline-source-private.h"
#include "rabc-defaults.h"
#include "rabc-error.h"
#include "rabc-fd-source-private.h"
#include "rabc-socket-private.h"

/**
 * RabcClient:
 *
 * A connection to the rabc daemon, driven by the GLib main loop.
 *
 * A client connects to the daemon's Unix socket when it is created, with
 * [ctor@Rabc.Client.new_sync] or [func@Rabc.Client.new_async]. While it is
 * connected it sends an automatic ping every
 * [property@Rabc.Client:ping-interval] milliseconds on the thread-default
 * main context that was current when it was created, and emits
 * [signal@Rabc.Client::reply] for each reply.
 *
 * Requests are sent with [method@Rabc.Client.send_async] or
 * [method@Rabc.Client.send_sync]; the daemon answers every message in order,
 * so replies are matched to requests and automatic pings first-in
 * first-out. [method@Rabc.Client.send_sync] works in programs that never run
 * a main loop.
 *
 * When the connection ends, pending requests fail and
 * [signal@Rabc.Client::closed] is emitted once.
 *
 * A client is not thread-safe: use it from the thread whose thread-default
 * main context was current when it was created.
 */

typedef enum {
  PENDING_PING,
  PENDING_TASK,
  PENDING_SYNC,
  PENDING_ABANDONED,
} PendingKind;

typedef struct {
  gboolean  done;
  char     *reply;
  GError   *error;
} SyncWait;

typedef struct {
  PendingKind  kind;
  gint64       sent_time;
  gint64       deadline;
  GTask       *task;
  SyncWait    *wait;
  /* Once answered: the answer, waiting in RabcClient.answered. */
  GList        link;
  char        *reply;
  GError      *error;
} Pending;

typedef struct {
  Pending      *pending;
  GCancellable *cancellable;
  gulong        cancelled_id;
} SendData;

struct _RabcClient {
  GObject         parent_instance;

  GMainContext   *context;
  char           *socket_path;
  char           *ping_message;
  guint           ping_interval;
  guint           max_message_size;
  guint           timeout;
  gint64          round_trip_time;
  gboolean        auto_reconnect;
  guint           server_uid;
  guint           reconnect_delay;
  GSource        *reconnect_source;

  gboolean        initialized;
  GError         *init_error;

  RabcConnection *conn;
  GSource        *io_source;
  GSource        *ping_source;
  GSource        *deadline_source;
  GQueue          pending;
  /* Answered requests, handed out once the read that answered them is
   * over: user code never runs in the middle of decoding, where a nested
   * synchronous call would read past frames not yet decoded. */
  GQueue          answered;
};

static void rabc_client_initable_iface_init       (GInitableIface      *iface);
static void rabc_client_async_initable_iface_init (GAsyncInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (RabcClient, rabc_client, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      rabc_client_initable_iface_init)
                               G_IMPLEMENT_INTERFACE (G_TYPE_ASYNC_INITABLE,
                                                      rabc_client_async_initable_iface_init))

enum {
  PROP_0,
  PROP_SOCKET_PATH,
  PROP_CONNECTED,
  PROP_PING_INTERVAL,
  PROP_PING_MESSAGE,
  PROP_MAX_MESSAGE_SIZE,
  PROP_TIMEOUT,
  PROP_ROUND_TRIP_TIME,
  PROP_AUTO_RECONNECT,
  PROP_SERVER_UID,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  REPLY,
  CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* How long to wait before trying again to connect to a daemon whose backlog
 * of connections is full. */
#define CONNECT_RETRY_MS 10
/* Reconnecting backs off from the first delay to the last, doubling. */
#define RECONNECT_FIRST_DELAY_MS 100
#define RECONNECT_MAX_DELAY_MS 5000

static void schedule_reconnect (RabcClient *self);

/* When something started at @start (monotonic time) times out, or -1. */
static gint64
deadline_after (RabcClient *self,
                gint64      start)
{
  return self->timeout > 0 ? start + (gint64) self->timeout * 1000 : -1;
}

static void
pending_free (Pending *pending)
{
  g_assert (pending->task == NULL);
  g_free (pending->reply);
  g_clear_error (&pending->error);
  g_free (pending);
}

static void
send_data_free (SendData *data)
{
  g_clear_object (&data->cancellable);
  g_free (data);
}

/* Hands the outcome of @pending to whoever waits for it and leaves it
 * abandoned: its reply, if one still comes, is read and dropped. Takes
 * @reply and @error. */
static void
pending_complete (RabcClient *self,
                  Pending    *pending,
                  char       *reply,
                  GError     *error)
{
  switch (pending->kind)
    {
    case PENDING_TASK:
      {
        g_autoptr(GTask) task = g_steal_pointer (&pending->task);
        SendData *data = g_task_get_task_data (task);

        data->pending = NULL;
        if (data->cancelled_id != 0)
          g_cancellable_disconnect (data->cancellable, data->cancelled_id);
        data->cancelled_id = 0;

        if (error != NULL)
          g_task_return_error (task, g_steal_pointer (&error));
        else
          g_task_return_pointer (task, g_steal_pointer (&reply), g_free);
      }
      break;

    case PENDING_SYNC:
      pending->wait->reply = g_steal_pointer (&reply);
      pending->wait->error = g_steal_pointer (&error);
      pending->wait->done = TRUE;
      pending->wait = NULL;
      break;

    case PENDING_PING:
      if (error == NULL)
        {
          self->round_trip_time = g_get_monotonic_time () - pending->sent_time;
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ROUND_TRIP_TIME]);
          g_signal_emit (self, signals[REPLY], 0, reply);
        }
      /* A ping fails only with its connection, which ::closed reports. */
      break;

    case PENDING_ABANDONED:
      break;
    }

  pending->kind = PENDING_ABANDONED;
  g_free (reply);
  g_clear_error (&error);
}

/* Hands out the answers read so far, oldest first; nested calls go on
 * with the same queue. */
static void
hand_out_answers (RabcClient *self,
                  gboolean    emit)
{
  GList *link;

  while ((link = g_queue_pop_head_link (&self->answered)) != NULL)
    {
      Pending *pending = link->data;

      if (!emit && pending->kind == PENDING_PING)
        pending->kind = PENDING_ABANDONED;
      pending_complete (self, pending,
                        g_steal_pointer (&pending->reply),
                        g_steal_pointer (&pending->error));
      pending_free (pending);
    }
}

static void
set_connection (RabcClient     *self,
                RabcConnection *conn);

/* Ends the connection: every pending request fails with @error (or with
 * RABC_ERROR_CLOSED for a local close, @error NULL), then ::closed is
 * emitted. */
static void
client_disconnect (RabcClient   *self,
                   const GError *error,
                   gboolean      emit)
{
  g_autoptr(GError) pending_error = NULL;
  g_autoptr(GError) signal_error = NULL;
  Pending *pending;
  GList *link;

  if (self->conn == NULL)
    return;

  g_object_ref (self);

  set_connection (self, NULL);

  if (error != NULL)
    {
      /* What was answered before the connection failed is handed out. */
      hand_out_answers (self, emit);
      pending_error = g_error_copy (error);
      signal_error = g_error_copy (error);
    }
  else
    {
      pending_error = g_error_new (RABC_ERROR, RABC_ERROR_CLOSED,
                                   "the connection to %s was closed", self->socket_path);
    }

  /* After a local close, answers not handed out yet end like pending
   * requests: nothing is delivered once close() has been called. */
  while ((link = g_queue_pop_head_link (&self->answered)) != NULL)
    {
      pending = link->data;
      pending_complete (self, pending, NULL, g_error_copy (pending_error));
      pending_free (pending);
    }

  while ((pending = g_queue_pop_head (&self->pending)) != NULL)
    {
      pending_complete (self, pending, NULL, g_error_copy (pending_error));
      pending_free (pending);
    }

  if (emit)
    {
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
      g_signal_emit (self, signals[CLOSED], 0, signal_error);

      /* Only a connection that failed comes back by itself. */
      if (error != NULL && self->auto_reconnect && self->conn == NULL)
        schedule_reconnect (self);
    }

  g_object_unref (self);
}

static void
client_fail (RabcClient *self,
             GError     *error)
{
  client_disconnect (self, error, TRUE);
  g_error_free (error);
}

static gboolean
on_message (RabcConnection *conn,
            const char     *text,
            gsize           len,
            gpointer        user_data)
{
  RabcClient *self = user_data;
  Pending *pending = g_queue_pop_head (&self->pending);

  if (pending == NULL)
    {
      client_fail (self, g_error_new (RABC_ERROR, RABC_ERROR_INVALID_DATA,
                                      "%s sent a message of %" G_GSIZE_FORMAT
                                      " bytes that answers no request",
                                      self->socket_path, len));
      return FALSE;
    }

  if (memchr (text, '\0', len) != NULL)
    pending->error = g_error_new_literal (RABC_ERROR, RABC_ERROR_INVALID_DATA,
                                          "the reply contains a NUL character, "
                                          "which a C string cannot hold");
  else
    pending->reply = g_strndup (text, len);

  pending->link.data = pending;
  g_queue_push_tail_link (&self->answered, &pending->link);
  return TRUE;
}

static void
on_failed (RabcConnection *conn,
           const GError   *error,
           gpointer        user_data)
{
  RabcClient *self = user_data;
  g_autoptr(GError) copy = g_error_copy (error);

  g_prefix_error (&copy, "%s: ", self->socket_path);
  client_disconnect (self, copy, TRUE);
}

static void
on_watch (RabcConnection *conn,
          GIOCondition    events,
          gpointer        user_data)
{
  RabcClient *self = user_data;

  rabc_fd_source_set_events (self->io_source, events);
}

static const RabcConnectionFuncs connection_funcs = {
  .message = on_message,
  .failed = on_failed,
  .watch = on_watch,
};

static gboolean
on_io (GIOCondition condition,
       gpointer     user_data)
{
  g_autoptr(RabcClient) self = g_object_ref (user_data);

  rabc_connection_handle_io (self->conn, condition);
  hand_out_answers (self, TRUE);
  return G_SOURCE_CONTINUE;
}

static void
arm_deadline (RabcClient *self,
              gint64      deadline)
{
  gint64 ready_time;

  if (deadline < 0 || self->deadline_source == NULL)
    return;

  ready_time = g_source_get_ready_time (self->deadline_source);
  if (ready_time < 0 || deadline < ready_time)
    g_source_set_ready_time (self->deadline_source, deadline);
}

static gboolean
on_deadline (gpointer user_data)
{
  g_autoptr(RabcClient) self = g_object_ref (user_data);
  gint64 now = g_get_monotonic_time ();
  gint64 next = -1;
  GList *l;

  g_source_set_ready_time (self->deadline_source, -1);

  /* Completing a request may run its callback, which may close the client:
   * look at the queue afresh after each one. */
restart:
  for (l = self->pending.head; l != NULL; l = l->next)
    {
      Pending *pending = l->data;

      /* Synchronous calls time out in their own loop. */
      if (pending->deadline < 0 ||
          pending->kind == PENDING_ABANDONED ||
          pending->kind == PENDING_SYNC)
        continue;

      if (pending->deadline > now)
        {
          next = next < 0 ? pending->deadline : MIN (next, pending->deadline);
          continue;
        }

      /* Pings keep the connection honest: a daemon that does not answer one
       * in time is taken to be gone. */
      if (pending->kind == PENDING_PING)
        {
          client_fail (self, g_error_new (RABC_ERROR, RABC_ERROR_TIMED_OUT,
                                          "%s did not answer a ping within %u ms",
                                          self->socket_path, self->timeout));
          return G_SOURCE_CONTINUE;
        }

      pending_complete (self, pending, NULL,
                        g_error_new (RABC_ERROR, RABC_ERROR_TIMED_OUT,
                                     "%s sent no reply within %u ms",
                                     self->socket_path, self->timeout));
      next = -1;
      goto restart;
    }

  arm_deadline (self, next);
  return G_SOURCE_CONTINUE;
}

/* Queues @message and the request it answers, then writes. */
static Pending *
client_send (RabcClient   *self,
             PendingKind   kind,
             const char   *message,
             GError      **error)
{
  RabcConnection *conn = self->conn;
  Pending *pending;

  if (conn == NULL)
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_CLOSED,
                   "the client is not connected to %s", self->socket_path);
      return NULL;
    }

  if (!rabc_connection_queue_message (conn, message, strlen (message), error))
    return NULL;

  pending = g_new0 (Pending, 1);
  pending->kind = kind;
  pending->sent_time = g_get_monotonic_time ();
  pending->deadline = deadline_after (self, pending->sent_time);
  g_queue_push_tail (&self->pending, pending);
  arm_deadline (self, kind == PENDING_SYNC ? -1 : pending->deadline);

  return pending;
}

static gboolean
on_ping (gpointer user_data)
{
  g_autoptr(RabcClient) self = g_object_ref (user_data);
  g_autoptr(GError) error = NULL;

  /* A ping that cannot be sent, say because it is too long, would leave the
   * connection unwatched: report it as the end of the connection. */
  if (client_send (self, PENDING_PING, self->ping_message, &error) == NULL)
    {
      g_prefix_error (&error, "cannot send an automatic ping: ");
      client_fail (self, g_steal_pointer (&error));
    }
  else
    rabc_connection_flush (self->conn);

  return G_SOURCE_CONTINUE;
}

static void
restart_ping_timer (RabcClient *self)
{
  rabc_clear_source (&self->ping_source);

  if (self->conn == NULL || self->ping_interval == 0)
    return;

  self->ping_source = g_timeout_source_new (self->ping_interval);
  g_source_set_static_name (self->ping_source, "[rabc] automatic ping");
  g_source_set_callback (self->ping_source, on_ping, self, NULL);
  g_source_attach (self->ping_source, self->context);
}

/* Takes @conn; NULL drops the current connection and its sources. */
static void
set_connection (RabcClient     *self,
                RabcConnection *conn)
{
  rabc_clear_source (&self->io_source);
  rabc_clear_source (&self->deadline_source);
  if (self->conn != NULL)
    {
      /* Close now: a read in progress must stop delivering messages. */
      rabc_connection_close (self->conn);
      g_clear_pointer (&self->conn, rabc_connection_unref);
    }

  self->conn = conn;

  if (conn != NULL)
    {
      self->io_source = rabc_fd_source_new (rabc_connection_get_fd (conn), G_IO_IN);
      g_source_set_callback (self->io_source, (GSourceFunc) (void (*) (void)) on_io, self, NULL);
      g_source_attach (self->io_source, self->context);

      self->deadline_source = rabc_deadline_source_new ("[rabc] reply deadline", on_deadline,
                                                        self, self->context);
    }

  restart_ping_timer (self);
}

/* Connects to the socket and checks who listens on it: root, this
 * process's user or :server-uid.  A full backlog is G_IO_ERROR_WOULD_BLOCK,
 * for the caller to retry. */
static int
connect_to_server (RabcClient  *self,
                   GError     **error)
{
  int fd = rabc_socket_connect (self->socket_path, error);
  pid_t server_pid;
  uid_t server_uid;

  if (fd < 0)
    return -1;

  if (!rabc_socket_get_peer (fd, &server_pid, &server_uid))
    {
      int errsv = errno;

      close (fd);
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot tell who listens on %s: %s", self->socket_path, g_strerror (errsv));
      return -1;
    }

  if (server_uid != 0 && server_uid != geteuid () &&
      self->server_uid != RABC_SERVER_UID_ANY && server_uid != self->server_uid)
    {
      close (fd);
      g_set_error (error, RABC_ERROR, RABC_ERROR_UNTRUSTED_SERVER,
                   "the server on %s runs as uid %u (pid %d), which is neither root, "
                   "this user nor the server-uid: refusing to talk to it",
                   self->socket_path, (guint) server_uid, (int) server_pid);
      return -1;
    }

  return fd;
}

static void
client_connected (RabcClient *self,
                  int         fd)
{
  set_connection (self, rabc_connection_new (fd, self->max_message_size,
                                             &connection_funcs, self));
  g_debug ("connected to %s", self->socket_path);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
}

static void
stop_reconnecting (RabcClient *self)
{
  rabc_clear_source (&self->reconnect_source);
  self->reconnect_delay = 0;
}

static gboolean
on_reconnect (gpointer user_data)
{
  g_autoptr(RabcClient) self = g_object_ref (user_data);
  g_autoptr(GError) error = NULL;
  int fd;

  g_clear_pointer (&self->reconnect_source, g_source_unref);

  fd = connect_to_server (self, &error);
  if (fd < 0)
    {
      g_debug ("reconnecting: %s", error->message);
      schedule_reconnect (self);
      return G_SOURCE_REMOVE;
    }

  self->reconnect_delay = 0;
  client_connected (self, fd);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (RabcClient *self)
{
  if (self->reconnect_source != NULL)
    return;

  self->reconnect_delay = self->reconnect_delay == 0
                        ? RECONNECT_FIRST_DELAY_MS
                        : MIN (self->reconnect_delay * 2, RECONNECT_MAX_DELAY_MS);
  g_debug ("reconnecting to %s in %u ms", self->socket_path, self->reconnect_delay);

  self->reconnect_source = g_timeout_source_new (self->reconnect_delay);
  g_source_set_static_name (self->reconnect_source, "[rabc] reconnect");
  g_source_set_callback (self->reconnect_source, on_reconnect, self, NULL);
  g_source_attach (self->reconnect_source, self->context);
}

static gboolean
rabc_client_initable_init (GInitable     *initable,
                           GCancellable  *cancellable,
                           GError       **error)
{
  RabcClient *self = RABC_CLIENT (initable);
  gint64 deadline = deadline_after (self, g_get_monotonic_time ());

  if (self->initialized)
    {
      if (self->init_error != NULL)
        g_propagate_error (error, g_error_copy (self->init_error));
      return self->init_error == NULL;
    }

  for (;;)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, &self->init_error))
        break;

      g_autoptr(GError) local_error = NULL;
      int fd = connect_to_server (self, &local_error);

      if (fd >= 0)
        {
          client_connected (self, fd);
          break;
        }

      if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ||
          (deadline >= 0 && g_get_monotonic_time () >= deadline))
        {
          self->init_error = g_steal_pointer (&local_error);
          break;
        }

      /* The daemon's backlog is full: wait a little. */
      g_usleep (CONNECT_RETRY_MS * 1000);
    }

  self->initialized = TRUE;

  if (self->init_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->init_error));
      return FALSE;
    }
  return TRUE;
}

static void
rabc_client_initable_iface_init (GInitableIface *iface)
{
  iface->init = rabc_client_initable_init;
}

typedef struct {
  gint64 deadline;
} InitData;

/* Records the outcome, which later calls to init return too. Takes @error. */
static void
init_finish (GTask  *task,
             GError *error)
{
  RabcClient *self = g_task_get_source_object (task);

  if (error != NULL)
    {
      self->init_error = g_error_copy (error);
      g_task_return_error (task, error);
    }
  else
    g_task_return_boolean (task, TRUE);
}

static void
init_attempt (GTask *task)
{
  RabcClient *self = g_task_get_source_object (task);
  InitData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSource) retry = NULL;
  int fd;

  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error))
    {
      init_finish (task, g_steal_pointer (&error));
      return;
    }

  fd = connect_to_server (self, &error);
  if (fd >= 0)
    {
      client_connected (self, fd);
      init_finish (task, NULL);
      return;
    }

  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ||
      (data->deadline >= 0 && g_get_monotonic_time () >= data->deadline))
    {
      init_finish (task, g_steal_pointer (&error));
      return;
    }

  retry = g_timeout_source_new (CONNECT_RETRY_MS);
  g_source_set_static_name (retry, "[rabc] connect retry");
  g_source_set_callback (retry, (GSourceFunc) (void (*) (void)) init_attempt,
                         g_object_ref (task), g_object_unref);
  g_source_attach (retry, self->context);
}

static void
rabc_client_async_initable_init_async (GAsyncInitable      *initable,
                                       int                  io_priority,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  RabcClient *self = RABC_CLIENT (initable);
  g_autoptr(GTask) task = NULL;
  InitData *data;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, rabc_client_async_initable_init_async);
  g_task_set_priority (task, io_priority);

  /* As GInitable: a second call reports the outcome of the first. */
  if (self->initialized)
    {
      if (self->init_error != NULL)
        g_task_return_error (task, g_error_copy (self->init_error));
      else
        g_task_return_boolean (task, TRUE);
      return;
    }
  self->initialized = TRUE;

  data = g_new0 (InitData, 1);
  data->deadline = deadline_after (self, g_get_monotonic_time ());
  g_task_set_task_data (task, data, g_free);

  init_attempt (task);
}

static gboolean
rabc_client_async_initable_init_finish (GAsyncInitable  *initable,
                                        GAsyncResult    *result,
                                        GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, initable), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
rabc_client_async_initable_iface_init (GAsyncInitableIface *iface)
{
  iface->init_async = rabc_client_async_initable_init_async;
  iface->init_finish = rabc_client_async_initable_init_finish;
}

static void
rabc_client_constructed (GObject *object)
{
  RabcClient *self = RABC_CLIENT (object);

  G_OBJECT_CLASS (rabc_client_parent_class)->constructed (object);

  self->context = g_main_context_ref_thread_default ();
  if (self->socket_path == NULL)
    self->socket_path = g_strdup (rabc_get_default_socket_path ());
}

static void
rabc_client_dispose (GObject *object)
{
  RabcClient *self = RABC_CLIENT (object);

  /* Nobody can listen any more: close without signals. */
  stop_reconnecting (self);
  client_disconnect (self, NULL, FALSE);

  G_OBJECT_CLASS (rabc_client_parent_class)->dispose (object);
}

static void
rabc_client_finalize (GObject *object)
{
  RabcClient *self = RABC_CLIENT (object);

  g_clear_error (&self->init_error);
  g_clear_pointer (&self->socket_path, g_free);
  g_clear_pointer (&self->ping_message, g_free);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (rabc_client_parent_class)->finalize (object);
}

static void
rabc_client_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  RabcClient *self = RABC_CLIENT (object);

  switch (prop_id)
    {
    case PROP_SOCKET_PATH:
      g_value_set_string (value, self->socket_path);
      break;
    case PROP_CONNECTED:
      g_value_set_boolean (value, rabc_client_get_connected (self));
      break;
    case PROP_PING_INTERVAL:
      g_value_set_uint (value, self->ping_interval);
      break;
    case PROP_PING_MESSAGE:
      g_value_set_string (value, self->ping_message);
      break;
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint (value, self->max_message_size);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint (value, self->timeout);
      break;
    case PROP_ROUND_TRIP_TIME:
      g_value_set_int64 (value, self->round_trip_time);
      break;
    case PROP_AUTO_RECONNECT:
      g_value_set_boolean (value, self->auto_reconnect);
      break;
    case PROP_SERVER_UID:
      g_value_set_uint (value, self->server_uid);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
rabc_client_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  RabcClient *self = RABC_CLIENT (object);

  switch (prop_id)
    {
    case PROP_SOCKET_PATH:
      self->socket_path = g_value_dup_string (value);
      break;
    case PROP_PING_INTERVAL:
      rabc_client_set_ping_interval (self, g_value_get_uint (value));
      break;
    case PROP_PING_MESSAGE:
      rabc_client_set_ping_message (self, g_value_get_string (value));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      rabc_client_set_max_message_size (self, g_value_get_uint (value));
      break;
    case PROP_TIMEOUT:
      rabc_client_set_timeout (self, g_value_get_uint (value));
      break;
    case PROP_AUTO_RECONNECT:
      rabc_client_set_auto_reconnect (self, g_value_get_boolean (value));
      break;
    case PROP_SERVER_UID:
      rabc_client_set_server_uid (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
rabc_client_class_init (RabcClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = rabc_client_constructed;
  object_class->dispose = rabc_client_dispose;
  object_class->finalize = rabc_client_finalize;
  object_class->get_property = rabc_client_get_property;
  object_class->set_property = rabc_client_set_property;

  /**
   * RabcClient:socket-path:
   *
   * The path of the daemon's Unix socket. When set to `NULL` at
   * construction, the default from [func@Rabc.get_default_socket_path] is
   * used.
   */
  properties[PROP_SOCKET_PATH] =
    g_param_spec_string ("socket-path", NULL, NULL,
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * RabcClient:connected:
   *
   * Whether the client is connected to the daemon.
   */
  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcClient:ping-interval:
   *
   * The interval between automatic pings, in milliseconds; 0 turns
   * automatic pings off.
   */
  properties[PROP_PING_INTERVAL] =
    g_param_spec_uint ("ping-interval", NULL, NULL,
                       0, G_MAXUINT, RABC_DEFAULT_PING_INTERVAL,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcClient:ping-message:
   *
   * The text of automatic pings.
   */
  properties[PROP_PING_MESSAGE] =
    g_param_spec_string ("ping-message", NULL, NULL,
                         "ping",
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                         G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcClient:max-message-size:
   *
   * The maximum message size, in bytes, for both directions: a message
   * whose length is greater than or equal to it is refused.
   */
  properties[PROP_MAX_MESSAGE_SIZE] =
    g_param_spec_uint ("max-message-size", NULL, NULL,
                       1, G_MAXINT32, RABC_DEFAULT_MAX_MESSAGE_SIZE,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcClient:timeout:
   *
   * How long to wait, in milliseconds, for the daemon to accept the
   * connection and for each reply; 0 waits forever. A request without a
   * reply in time fails with %RABC_ERROR_TIMED_OUT; an automatic ping
   * without a reply in time closes the connection with that error, since
   * the daemon is no longer answering. Default: 5000.
   */
  properties[PROP_TIMEOUT] =
    g_param_spec_uint ("timeout", NULL, NULL,
                       0, G_MAXUINT, RABC_DEFAULT_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcClient:round-trip-time:
   *
   * The round-trip time of the latest answered automatic ping, in
   * microseconds, or 0 before the first one.
   */
  properties[PROP_ROUND_TRIP_TIME] =
    g_param_spec_int64 ("round-trip-time", NULL, NULL,
                        0, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcClient:auto-reconnect:
   *
   * Whether to reconnect when the connection fails, for example because
   * the daemon restarted. Attempts back off from 100 ms to 5 s between
   * tries. Each transition is reported by
   * [property@Rabc.Client:connected] and, on the way down, by
   * [signal@Rabc.Client::closed]; automatic pings resume once connected. A
   * connection closed with [method@Rabc.Client.close] stays closed.
   */
  properties[PROP_AUTO_RECONNECT] =
    g_param_spec_boolean ("auto-reconnect", NULL, NULL,
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS);

  /**
   * RabcClient:server-uid:
   *
   * A user, besides root and the client's own effective user, whom the
   * client accepts as the server; %RABC_SERVER_UID_ANY accepts any user.
   *
   * After connecting, the client reads the credentials of the process
   * listening on the socket (`SO_PEERCRED`) and refuses to talk to a
   * server running as anybody else, failing with
   * %RABC_ERROR_UNTRUSTED_SERVER. The default socket path is in `/tmp`,
   * where any local user may bind it first and answer in the daemon's
   * place: without the check, root's client would take that user's
   * replies. Under systemd the socket is bound by the service manager,
   * which runs as root, at boot. Default: 0 (root), which adds nobody.
   *
   * A daemon run as a user of its own without socket activation needs its
   * user here, and so does one seen across user namespaces (a container),
   * where `SO_PEERCRED` reports an unmapped user as the overflow user,
   * usually 65534.
   *
   * It applies to every connection from the next one on; set it at
   * construction, with [ctor@GObject.Object.new] and
   * [method@Gio.Initable.init], for the first.
   */
  properties[PROP_SERVER_UID] =
    g_param_spec_uint ("server-uid", NULL, NULL,
                       0, G_MAXUINT32, 0,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * RabcClient::reply:
   * @self: the client
   * @reply: the text of the reply
   *
   * Emitted for the reply to each automatic ping. Replies to requests go
   * to the callers of [method@Rabc.Client.send_async] and
   * [method@Rabc.Client.send_sync] instead.
   */
  signals[REPLY] =
    g_signal_new ("reply",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * RabcClient::closed:
   * @self: the client
   * @error: (nullable): why the connection ended, or `NULL` when
   *   [method@Rabc.Client.close] closed it
   *
   * Emitted once when the connection ends, after pending requests have
   * failed: %RABC_ERROR_IPC_CONNECTION when the daemon went away,
   * %RABC_ERROR_INVALID_DATA or %RABC_ERROR_EXCEEDED_IPC_MAX_SIZE when it
   * broke the protocol, %RABC_ERROR_TIMED_OUT when it stopped answering
   * automatic pings.
   */
  signals[CLOSED] =
    g_signal_new ("closed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1,
                  G_TYPE_ERROR);
}

static void
rabc_client_init (RabcClient *self)
{
  g_queue_init (&self->pending);
  g_queue_init (&self->answered);
}

/**
 * rabc_client_new_sync:
 * @socket_path: (nullable) (type filename): the daemon's socket, or `NULL`
 *   for [func@Rabc.get_default_socket_path]
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a [struct@GLib.Error]
 *
 * Creates a client and connects it to the daemon, blocking until it is
 * connected.
 *
 * Returns: (transfer full): a connected client, or `NULL` with @error set
 */
RabcClient *
rabc_client_new_sync (const char    *socket_path,
                      GCancellable  *cancellable,
                      GError       **error)
{
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_initable_new (RABC_TYPE_CLIENT, cancellable, error,
                         "socket-path", socket_path,
                         NULL);
}

/**
 * rabc_client_new_async:
 * @socket_path: (nullable) (type filename): the daemon's socket, or `NULL`
 *   for [func@Rabc.get_default_socket_path]
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async): called when the client is connected or failed
 * @user_data: data for @callback
 *
 * Creates a client and connects it without blocking. @callback runs in the
 * thread-default main context of the caller; it calls
 * [ctor@Rabc.Client.new_finish] to get the client.
 */
void
rabc_client_new_async (const char          *socket_path,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  g_async_initable_new_async (RABC_TYPE_CLIENT, G_PRIORITY_DEFAULT, cancellable,
                              callback, user_data,
                              "socket-path", socket_path,
                              NULL);
}

/**
 * rabc_client_new_finish:
 * @result: the result passed to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes an operation started with [func@Rabc.Client.new_async].
 *
 * Returns: (transfer full): a connected client, or `NULL` with @error set
 */
RabcClient *
rabc_client_new_finish (GAsyncResult  *result,
                        GError       **error)
{
  g_autoptr(GObject) source_object = NULL;
  GObject *object;

  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  source_object = g_async_result_get_source_object (result);
  object = g_async_initable_new_finish (G_ASYNC_INITABLE (source_object), result, error);

  return object != NULL ? RABC_CLIENT (object) : NULL;
}

/**
 * rabc_client_get_socket_path:
 * @self: a [class@Rabc.Client]
 *
 * Gets the path of the daemon's socket.
 *
 * Returns: (type filename): the socket path
 */
const char *
rabc_client_get_socket_path (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);

  return self->socket_path;
}

/**
 * rabc_client_get_connected:
 * @self: a [class@Rabc.Client]
 *
 * Gets whether the client is connected.
 *
 * Returns: `TRUE` while connected
 */
gboolean
rabc_client_get_connected (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), FALSE);

  return self->conn != NULL;
}

/**
 * rabc_client_get_ping_interval:
 * @self: a [class@Rabc.Client]
 *
 * Gets the interval between automatic pings.
 *
 * Returns: the interval in milliseconds; 0 when automatic pings are off
 */
guint
rabc_client_get_ping_interval (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  return self->ping_interval;
}

/**
 * rabc_client_set_ping_interval:
 * @self: a [class@Rabc.Client]
 * @interval_ms: the interval in milliseconds, or 0 to turn automatic pings
 *   off
 *
 * Sets the interval between automatic pings; the next ping is sent one full
 * interval from now.
 */
void
rabc_client_set_ping_interval (RabcClient *self,
                               guint       interval_ms)
{
  g_return_if_fail (RABC_IS_CLIENT (self));

  if (self->ping_interval == interval_ms)
    return;

  self->ping_interval = interval_ms;
  restart_ping_timer (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PING_INTERVAL]);
}

/**
 * rabc_client_get_ping_message:
 * @self: a [class@Rabc.Client]
 *
 * Gets the text of automatic pings.
 *
 * Returns: the text of automatic pings
 */
const char *
rabc_client_get_ping_message (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);

  return self->ping_message;
}

/**
 * rabc_client_set_ping_message:
 * @self: a [class@Rabc.Client]
 * @message: the text of automatic pings, valid UTF-8
 *
 * Sets the text of automatic pings. The default is `ping`.
 */
void
rabc_client_set_ping_message (RabcClient *self,
                              const char *message)
{
  g_return_if_fail (RABC_IS_CLIENT (self));
  g_return_if_fail (message != NULL);
  g_return_if_fail (g_utf8_validate (message, -1, NULL));

  if (g_strcmp0 (self->ping_message, message) == 0)
    return;

  g_free (self->ping_message);
  self->ping_message = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PING_MESSAGE]);
}

/**
 * rabc_client_get_max_message_size:
 * @self: a [class@Rabc.Client]
 *
 * Gets the maximum message size.
 *
 * Returns: the maximum message size in bytes
 */
guint
rabc_client_get_max_message_size (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  return self->max_message_size;
}

/**
 * rabc_client_set_max_message_size:
 * @self: a [class@Rabc.Client]
 * @max_message_size: the maximum message size in bytes, at least 1
 *
 * Sets the maximum message size for both sending and receiving.
 */
void
rabc_client_set_max_message_size (RabcClient *self,
                                  guint       max_message_size)
{
  g_return_if_fail (RABC_IS_CLIENT (self));
  g_return_if_fail (max_message_size > 0);

  if (self->max_message_size == max_message_size)
    return;

  self->max_message_size = max_message_size;
  if (self->conn != NULL)
    rabc_connection_set_max_message_size (self->conn, max_message_size);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_MESSAGE_SIZE]);
}

/**
 * rabc_client_get_timeout:
 * @self: a [class@Rabc.Client]
 *
 * Gets how long the client waits for a reply.
 *
 * Returns: the timeout in milliseconds; 0 means no timeout
 */
guint
rabc_client_get_timeout (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  return self->timeout;
}

/**
 * rabc_client_set_timeout:
 * @self: a [class@Rabc.Client]
 * @timeout_ms: the timeout in milliseconds, or 0 for none
 *
 * Sets how long the client waits for a reply; it applies to messages sent
 * from now on. See [property@Rabc.Client:timeout].
 */
void
rabc_client_set_timeout (RabcClient *self,
                         guint       timeout_ms)
{
  g_return_if_fail (RABC_IS_CLIENT (self));

  if (self->timeout == timeout_ms)
    return;

  self->timeout = timeout_ms;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMEOUT]);
}

/**
 * rabc_client_get_round_trip_time:
 * @self: a [class@Rabc.Client]
 *
 * Gets the round-trip time of the latest answered automatic ping.
 *
 * Returns: the round-trip time in microseconds, or 0 before the first reply
 */
gint64
rabc_client_get_round_trip_time (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  return self->round_trip_time;
}

/**
 * rabc_client_get_auto_reconnect:
 * @self: a [class@Rabc.Client]
 *
 * Gets whether the client reconnects after the connection fails.
 *
 * Returns: `TRUE` if the client reconnects
 */
gboolean
rabc_client_get_auto_reconnect (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), FALSE);

  return self->auto_reconnect;
}

/**
 * rabc_client_set_auto_reconnect:
 * @self: a [class@Rabc.Client]
 * @auto_reconnect: whether to reconnect
 *
 * Sets whether the client reconnects after the connection fails. See
 * [property@Rabc.Client:auto-reconnect].
 */
void
rabc_client_set_auto_reconnect (RabcClient *self,
                                gboolean    auto_reconnect)
{
  g_return_if_fail (RABC_IS_CLIENT (self));

  auto_reconnect = !!auto_reconnect;
  if (self->auto_reconnect == auto_reconnect)
    return;

  self->auto_reconnect = auto_reconnect;
  if (!auto_reconnect)
    stop_reconnecting (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AUTO_RECONNECT]);
}

/**
 * rabc_client_send_sync:
 * @self: a [class@Rabc.Client]
 * @message: the text to send, valid UTF-8
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a [struct@GLib.Error]
 *
 * Sends @message and blocks until its reply arrives. Replies to automatic
 * pings and to other requests that arrive first are handed out on the way,
 * so [signal@Rabc.Client::reply] may be emitted during the call. No main
 * loop is needed.
 *
 * Returns: (transfer full): the reply, or `NULL` with @error set
 */
char *
rabc_client_send_sync (RabcClient    *self,
                       const char    *message,
                       GCancellable  *cancellable,
                       GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  SyncWait wait = { 0 };
  Pending *pending;

  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);
  g_return_val_if_fail (message != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  pending = client_send (self, PENDING_SYNC, message, error);
  if (pending == NULL)
    return NULL;
  pending->wait = &wait;

  g_object_ref (self);

  rabc_connection_flush (self->conn);

  while (!wait.done)
    {
      /* Until @wait is done, @pending is in the queue and the connection is
       * open. */
      if (!rabc_connection_iterate_sync (self->conn, pending->deadline,
                                         cancellable, &local_error))
        {
          if (g_error_matches (local_error, RABC_ERROR, RABC_ERROR_TIMED_OUT))
            g_prefix_error (&local_error, "%s: ", self->socket_path);
          pending_complete (self, pending, NULL, g_steal_pointer (&local_error));
        }
      hand_out_answers (self, TRUE);
    }

  g_object_unref (self);

  if (wait.error != NULL)
    {
      g_propagate_error (error, wait.error);
      return NULL;
    }
  return wait.reply;
}

static gboolean
on_send_cancelled_idle (gpointer user_data)
{
  GTask *task = user_data;
  SendData *data = g_task_get_task_data (task);

  if (data->pending != NULL)
    pending_complete (g_task_get_source_object (task), data->pending, NULL,
                      g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                           "Operation was cancelled"));
  return G_SOURCE_REMOVE;
}

/* May run in any thread: finish in the client's context. */
static void
on_send_cancelled (GCancellable *cancellable,
                   gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(GSource) idle = g_idle_source_new ();

  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_static_name (idle, "[rabc] send cancelled");
  g_source_set_callback (idle, on_send_cancelled_idle, g_object_ref (task), g_object_unref);
  g_source_attach (idle, g_task_get_context (task));
}

/**
 * rabc_client_send_async:
 * @self: a [class@Rabc.Client]
 * @message: the text to send, valid UTF-8
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async): called when the reply arrives or the request
 *   failed
 * @user_data: data for @callback
 *
 * Sends @message without blocking. @callback runs in the thread-default
 * main context of the caller; it calls [method@Rabc.Client.send_finish] to
 * get the reply.
 */
void
rabc_client_send_async (RabcClient          *self,
                        const char          *message,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  SendData *data;
  Pending *pending;

  g_return_if_fail (RABC_IS_CLIENT (self));
  g_return_if_fail (message != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, rabc_client_send_async);

  if (g_task_return_error_if_cancelled (task))
    return;

  pending = client_send (self, PENDING_TASK, message, &error);
  if (pending == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  data = g_new0 (SendData, 1);
  data->pending = pending;
  g_task_set_task_data (task, data, (GDestroyNotify) send_data_free);
  pending->task = g_object_ref (task);

  if (cancellable != NULL)
    {
      data->cancellable = g_object_ref (cancellable);
      data->cancelled_id = g_cancellable_connect (cancellable,
                                                  G_CALLBACK (on_send_cancelled),
                                                  task, NULL);
    }

  rabc_connection_flush (self->conn);
}

/**
 * rabc_client_send_finish:
 * @self: a [class@Rabc.Client]
 * @result: the result passed to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes an operation started with [method@Rabc.Client.send_async].
 *
 * Returns: (transfer full): the reply, or `NULL` with @error set
 */
char *
rabc_client_send_finish (RabcClient    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == rabc_client_send_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * rabc_client_close:
 * @self: a [class@Rabc.Client]
 *
 * Closes the connection. Pending requests fail with %RABC_ERROR_CLOSED and
 * [signal@Rabc.Client::closed] is emitted with a `NULL` error. A client
 * waiting to reconnect stops waiting. Closing a closed client does nothing.
 */
void
rabc_client_close (RabcClient *self)
{
  g_return_if_fail (RABC_IS_CLIENT (self));

  stop_reconnecting (self);
  client_disconnect (self, NULL, TRUE);
}

/**
 * rabc_client_get_server_uid:
 * @self: a [class@Rabc.Client]
 *
 * Gets the user, besides root and the client's own, whom the client
 * accepts as the server.
 *
 * Returns: the value of [property@Rabc.Client:server-uid]
 */
guint
rabc_client_get_server_uid (RabcClient *self)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  return self->server_uid;
}

/**
 * rabc_client_set_server_uid:
 * @self: a [class@Rabc.Client]
 * @server_uid: a user ID, or %RABC_SERVER_UID_ANY
 *
 * Sets [property@Rabc.Client:server-uid], for the connections made from
 * now on.
 */
void
rabc_client_set_server_uid (RabcClient *self,
                            guint       server_uid)
{
  g_return_if_fail (RABC_IS_CLIENT (self));

  if (self->server_uid == server_uid)
    return;

  self->server_uid = server_uid;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SERVER_UID]);
}
