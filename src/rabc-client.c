/* rabc-client.c: a client of the rabc daemon
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "rabc-call-queue-private.h"
#include "rabc-client.h"
#include "rabc-connection-private.h"
#include "rabc-deadline-source-private.h"
#include "rabc-defaults.h"
#include "rabc-error.h"
#include "rabc-fd-source-private.h"
#include "rabc-lock-private.h"
#include "rabc-socket-private.h"

/**
 * RabcClient:
 *
 * A connection to the rabc daemon, driven by the GLib main loop.
 *
 * A client connects to the daemon's Unix socket when it is created, with
 * [ctor@Rabc.Client.new_sync] or [func@Rabc.Client.new_async]. While it is
 * connected it sends an automatic ping every
 * [property@Rabc.Client:ping-interval] milliseconds and emits
 * [signal@Rabc.Client::reply] for each reply.
 *
 * Requests are sent with [method@Rabc.Client.send_async] or
 * [method@Rabc.Client.send_sync], and their byte-exact variants
 * [method@Rabc.Client.send_bytes_async] and
 * [method@Rabc.Client.send_bytes_sync]; the daemon answers every message in
 * order, so replies are matched to requests and automatic pings first-in
 * first-out. [method@Rabc.Client.send_sync] works in programs that never
 * run a main loop.
 *
 * When the connection ends, pending requests fail and
 * [signal@Rabc.Client::closed] is emitted once.
 *
 * A client that sends one request and waits for its reply on the main
 * loop:
 *
 * ```c
 * static void
 * on_sent (GObject      *source,
 *          GAsyncResult *result,
 *          gpointer      user_data)
 * {
 *   GMainLoop *loop = user_data;
 *   g_autoptr(GError) error = NULL;
 *   g_autofree char *reply = NULL;
 *
 *   reply = rabc_client_send_finish (RABC_CLIENT (source), result, &error);
 *   if (reply != NULL)
 *     g_print ("reply: %s\n", reply);
 *   else if (g_error_matches (error, RABC_ERROR, RABC_ERROR_TIMED_OUT))
 *     g_printerr ("the daemon did not answer in time\n");
 *   else
 *     g_printerr ("no reply: %s\n", error->message);
 *   g_main_loop_quit (loop);
 * }
 *
 * int
 * main (void)
 * {
 *   g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
 *   g_autoptr(RabcClient) client = NULL;
 *   g_autoptr(GError) error = NULL;
 *
 *   // NULL: $RABC_SOCKET_PATH, or /tmp/librabc
 *   client = rabc_client_new_sync (NULL, NULL, &error);
 *   if (client == NULL)
 *     {
 *       g_printerr ("cannot connect: %s\n", error->message);
 *       return 1;
 *     }
 *
 *   rabc_client_send_async (client, "hello", NULL, on_sent, loop);
 *   g_main_loop_run (loop);
 *   return 0;
 * }
 * ```
 *
 * ```python
 * import gi
 * gi.require_version("Rabc", "1.0")
 * from gi.repository import GLib, Rabc
 *
 * loop = GLib.MainLoop()
 *
 * def on_sent(client, result):
 *     try:
 *         print("reply:", client.send_finish(result))
 *     except GLib.Error as error:
 *         if error.matches(Rabc.Error.quark(), Rabc.Error.TIMED_OUT):
 *             print("the daemon did not answer in time")
 *         else:
 *             print("no reply:", error.message)
 *     loop.quit()
 *
 * client = Rabc.Client.new_sync(None, None)  # raises GLib.Error
 * client.send_async("hello", None, on_sent)
 * loop.run()
 * ```
 *
 * ## Threads
 *
 * A client may be used from any number of threads at once, like
 * [class@Gio.DBusConnection]: every method, and the property getters and
 * setters, may be called from any thread.
 *
 * - The client's own work runs in the thread-default main context that was
 *   current when it was created, its *context*: automatic pings, timeouts
 *   of asynchronous requests, reconnecting, and reading replies while no
 *   thread waits in a synchronous call.
 * - [signal@Rabc.Client::reply], [signal@Rabc.Client::closed] and
 *   [signal@GObject.Object::notify] are emitted in the client's context:
 *   by the thread running it, or, when no thread runs it, by the thread
 *   that caused them, holding the context meanwhile (as
 *   [method@GLib.MainContext.invoke] does).
 * - The callback of [method@Rabc.Client.send_async] runs in the
 *   thread-default main context of the thread that called it; callbacks
 *   run in the order the replies came, except that a request cancelled
 *   before its callback runs fails with `G_IO_ERROR_CANCELLED`, as in
 *   GIO, and its callback may come after later ones.
 * - Notifications follow GObject's rules too: while a thread is inside
 *   g_object_set() or g_object_freeze_notify() on the client, GObject
 *   holds the client's notifications and emits them in that thread when
 *   it returns. Threads other than the context's use the setters, such as
 *   [method@Rabc.Client.set_timeout], which never freeze.
 * - [method@Rabc.Client.send_sync] blocks only its own thread. The thread
 *   blocked in it reads every reply that arrives meanwhile and hands each
 *   to its caller at once, so no request waits for another.
 *
 * Replies to asynchronous requests are read by the client's context or by
 * a thread blocked in a synchronous call, so a program that sends
 * asynchronous requests must run the client's context.
 *
 * Signal handlers and callbacks may call back into the client, run a
 * nested main loop, close the client or drop the last reference to it.
 */

/* What the caller of a request gets: the reply, as bytes or as a string,
 * or an error. */
typedef struct {
  gboolean  as_bytes;
  GBytes   *bytes;
  char     *text;
  GError   *error;
} Outcome;

/* A thread blocked in a synchronous call. */
typedef struct {
  Outcome   outcome;
  RabcCall *call;
  gboolean  done;
} SyncWait;

/* The task data of an asynchronous request. */
typedef struct {
  Outcome   outcome;
  /* The request while its outcome is unknown, else NULL. */
  RabcCall *call;
  /* Dispatched in the task's context when the request is cancelled. */
  GSource  *cancel_source;
} SendData;

/* What the client's context is to emit, in order. */
typedef enum {
  EVENT_NOTIFY,
  EVENT_REPLY,
  EVENT_CLOSED,
} EventKind;

typedef struct {
  EventKind   kind;
  GParamSpec *pspec;
  char       *text;
  GError     *error;
} Event;

struct _RabcClient {
  GObject         parent_instance;

  /* Set at construction, never changed. */
  GMainContext   *context;
  char           *socket_path;
  GSource        *wake_source;

  /* Guards everything below.  Never held while user code runs: signals
   * and callbacks are emitted after it is dropped. */
  RabcMutex       lock;
  /* Broadcast when a synchronous call is done, when the thread reading
   * for the others stops, and when a synchronous call is cancelled; only
   * when a thread waits on it, since a broadcast costs a system call. */
  RabcCond        cond;
  guint           n_cond_waiters;

  char           *ping_message;
  guint           ping_interval;
  guint           max_message_size;
  guint           timeout;
  gint64          round_trip_time;
  gboolean        auto_reconnect;
  guint           server_uid;
  gboolean        reconnect_wanted;
  guint           reconnect_delay;
  GSource        *reconnect_source;

  gboolean        init_done;
  GError         *init_error;
  gboolean        disposed;

  RabcConnection *conn;
  RabcCallQueue   calls;
  /* A thread blocked in a synchronous call waits on the socket, without
   * the lock, and reads for everybody; the socket source does not read
   * meanwhile. */
  gboolean        reading;
  GSource        *io_source;
  GSource        *ping_source;
  GSource        *deadline_source;
  GQueue          events;
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

#define DEFAULT_PING_MESSAGE "ping"

/* How long to wait before trying again to connect to a daemon whose backlog
 * of connections is full. */
#define CONNECT_RETRY_MS 10
/* Reconnecting backs off from the first delay to the last, doubling. */
#define RECONNECT_FIRST_DELAY_MS 100
#define RECONNECT_MAX_DELAY_MS 5000

static void schedule_reconnect_locked (RabcClient *self);

/* --- locking and the client's context ----------------------------------- */

static void
client_lock (RabcClient *self)
{
  rabc_mutex_lock (&self->lock);
}

/* Waits on the condition until @end_time (monotonic), or for ever when it
 * is -1.  Returns FALSE once @end_time has passed. */
static gboolean
client_wait (RabcClient *self,
             gint64      end_time)
{
  gboolean woken = TRUE;

  self->n_cond_waiters++;
  if (end_time < 0)
    rabc_cond_wait (&self->cond, &self->lock);
  else
    woken = rabc_cond_wait_until (&self->cond, &self->lock, end_time);
  self->n_cond_waiters--;
  return woken;
}

static void
client_broadcast_locked (RabcClient *self)
{
  if (self->n_cond_waiters > 0)
    rabc_cond_broadcast (&self->cond);
}

/* Makes the client's context emit the events queued so far. */
static void
wake_context (RabcClient *self)
{
  g_source_set_ready_time (self->wake_source, 0);
}

static void
event_free (Event *event)
{
  g_free (event->text);
  g_clear_error (&event->error);
  g_free (event);
}

static void
queue_event_locked (RabcClient *self,
                    EventKind   kind,
                    GParamSpec *pspec,
                    const char *text,
                    GError     *error)
{
  Event *event;

  /* Nothing is told during construction, nor once dispose has begun. */
  if (self->context == NULL || self->disposed)
    {
      g_clear_error (&error);
      return;
    }

  event = g_new0 (Event, 1);
  event->kind = kind;
  event->pspec = pspec;
  event->text = g_strdup (text);
  event->error = error;
  g_queue_push_tail (&self->events, event);
}

static void
queue_notify_locked (RabcClient *self,
                     guint       prop_id)
{
  queue_event_locked (self, EVENT_NOTIFY, properties[prop_id], NULL, NULL);
}

/* Emits the queued events, oldest first.  The caller holds the client's
 * context; a handler that causes more events, or runs a nested main loop,
 * goes on with the same queue. */
static void
emit_events (RabcClient *self)
{
  g_object_ref (self);

  for (;;)
    {
      Event *event;

      client_lock (self);
      event = g_queue_pop_head (&self->events);
      rabc_mutex_unlock (&self->lock);

      if (event == NULL)
        break;

      switch (event->kind)
        {
        case EVENT_NOTIFY:
          g_object_notify_by_pspec (G_OBJECT (self), event->pspec);
          break;
        case EVENT_REPLY:
          g_signal_emit (self, signals[REPLY], 0, event->text);
          break;
        case EVENT_CLOSED:
          g_signal_emit (self, signals[CLOSED], 0, event->error);
          break;
        }
      event_free (event);
    }

  g_object_unref (self);
}

/* Drops the lock and emits what it queued: at once when the calling
 * thread can hold the client's context, else from the context. */
static void
client_unlock (RabcClient *self)
{
  gboolean pending = self->events.length > 0;

  rabc_mutex_unlock (&self->lock);

  if (!pending)
    return;

  if (g_main_context_acquire (self->context))
    {
      /* A handler may drop the caller's last reference. */
      g_autoptr(GMainContext) context = g_main_context_ref (self->context);

      emit_events (self);
      g_main_context_release (context);
    }
  else
    wake_context (self);
}

/* Drops the lock and leaves what it queued to the context's wake source:
 * for the socket source, which does not read during a dispatch of its
 * own, so that a handler running a nested main loop there would never get
 * its replies.  The client's other sources may recurse, and emit at once. */
static void
client_unlock_from_source (RabcClient *self)
{
  gboolean pending = self->events.length > 0;

  rabc_mutex_unlock (&self->lock);

  if (pending)
    wake_context (self);
}

/* Sources of the client's context reach it through a weak reference: the
 * last reference may be dropped in another thread during a dispatch. */
static gpointer
weak_ref_new (RabcClient *self)
{
  GWeakRef *weak = g_new (GWeakRef, 1);

  g_weak_ref_init (weak, self);
  return weak;
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* Makes the socket source watch what the connection wants, or nothing
 * while a synchronous call reads.  Only the thread that owns the context
 * changes the source's descriptor; another asks the context to. */
static void
update_io_watch_locked (RabcClient *self)
{
  GIOCondition events;

  if (self->io_source == NULL)
    return;

  events = self->reading ? 0 : rabc_connection_get_watched (self->conn);
  if (events == rabc_fd_source_get_events (self->io_source))
    return;

  if (!g_main_context_is_owner (self->context))
    {
      wake_context (self);
      return;
    }

  rabc_fd_source_set_events (self->io_source, events);
}

static gboolean
on_wake (gpointer user_data)
{
  g_autoptr(RabcClient) self = g_weak_ref_get (user_data);

  if (self == NULL)
    return G_SOURCE_CONTINUE;

  /* Disarm first: whatever comes while emitting arms it again. */
  g_source_set_ready_time (self->wake_source, -1);

  client_lock (self);
  update_io_watch_locked (self);
  rabc_mutex_unlock (&self->lock);

  emit_events (self);
  return G_SOURCE_CONTINUE;
}

/* --- requests and their outcome ----------------------------------------- */

static void
outcome_clear (Outcome *outcome)
{
  g_clear_pointer (&outcome->bytes, g_bytes_unref);
  g_clear_pointer (&outcome->text, g_free);
  g_clear_error (&outcome->error);
}

/* Sets the reply, @len bytes of @data, or @error (taken) when not NULL. */
static void
outcome_set (Outcome    *outcome,
             const char *data,
             gsize       len,
             GError     *error)
{
  if (error != NULL)
    outcome->error = error;
  else if (outcome->as_bytes)
    outcome->bytes = g_bytes_new (data, len);
  else if (memchr (data, '\0', len) != NULL)
    outcome->error = g_error_new_literal (RABC_ERROR, RABC_ERROR_INVALID_DATA,
                                          "the reply contains a NUL character, which a C "
                                          "string cannot hold: use rabc_client_send_bytes_sync() "
                                          "or rabc_client_send_bytes_async()");
  else
    outcome->text = g_strndup (data, len);
}

/* When something started at @start (monotonic time) times out, or -1. */
static gint64
deadline_after_locked (RabcClient *self,
                       gint64      start)
{
  return self->timeout > 0 ? start + (gint64) self->timeout * 1000 : -1;
}

static void
send_data_free (SendData *data)
{
  g_assert (data->cancel_source == NULL);
  outcome_clear (&data->outcome);
  g_free (data);
}

/* Runs in the task's context: the outcome is known. */
static gboolean
return_task (gpointer user_data)
{
  GTask *task = user_data;
  RabcClient *self = g_task_get_source_object (task);
  SendData *data = g_task_get_task_data (task);
  Outcome outcome;
  GSource *cancel_source;

  /* The outcome was set under the lock in another thread, maybe. */
  client_lock (self);
  outcome = data->outcome;
  memset (&data->outcome, 0, sizeof data->outcome);
  cancel_source = g_steal_pointer (&data->cancel_source);
  rabc_mutex_unlock (&self->lock);

  if (cancel_source != NULL)
    {
      g_source_destroy (cancel_source);
      g_source_unref (cancel_source);
    }

  if (outcome.error != NULL)
    g_task_return_error (task, outcome.error);
  else if (outcome.as_bytes)
    g_task_return_pointer (task, outcome.bytes, (GDestroyNotify) g_bytes_unref);
  else
    g_task_return_pointer (task, outcome.text, g_free);

  return G_SOURCE_REMOVE;
}

/* Returns @task (taken) from its own context, after every task returned
 * before it there: callbacks run in the order the replies came. */
static void
return_task_later (GTask *task)
{
  GSource *idle = g_idle_source_new ();

  g_source_set_priority (idle, g_task_get_priority (task));
  g_source_set_static_name (idle, "[rabc] reply");
  g_source_set_callback (idle, return_task, task, g_object_unref);
  g_source_attach (idle, g_task_get_context (task));
  g_source_unref (idle);
}

/* Hands the outcome of @call, the reply in @data or @error (taken), to
 * whoever waits for it, and leaves @call abandoned.  Runs no user code. */
static void
complete_call_locked (RabcClient *self,
                      RabcCall   *call,
                      const char *data,
                      gsize       len,
                      GError     *error)
{
  if (rabc_call_is_abandoned (call))
    {
      g_clear_error (&error);
      return;
    }

  switch (call->kind)
    {
    case RABC_CALL_SYNC:
      {
        SyncWait *wait = call->waiter;

        outcome_set (&wait->outcome, data, len, error);
        wait->call = NULL;
        wait->done = TRUE;
        client_broadcast_locked (self);
      }
      break;

    case RABC_CALL_TASK:
      {
        GTask *task = call->waiter;
        SendData *send_data = g_task_get_task_data (task);

        outcome_set (&send_data->outcome, data, len, error);
        send_data->call = NULL;
        return_task_later (task);
      }
      break;

    case RABC_CALL_PING:
      /* A ping fails only with its connection, which ::closed reports; a
       * reply that no string can hold is dropped. */
      if (error == NULL && memchr (data, '\0', len) == NULL)
        {
          g_autofree char *text = g_strndup (data, len);

          self->round_trip_time = g_get_monotonic_time () - call->sent_time;
          queue_notify_locked (self, PROP_ROUND_TRIP_TIME);
          queue_event_locked (self, EVENT_REPLY, NULL, text, NULL);
        }
      g_clear_error (&error);
      break;
    }

  rabc_call_abandon (call);
}

/* --- the connection ----------------------------------------------------- */

static void
drop_reply_events_locked (RabcClient *self)
{
  GList *l = self->events.head;

  while (l != NULL)
    {
      GList *next = l->next;
      Event *event = l->data;

      if (event->kind == EVENT_REPLY)
        {
          g_queue_delete_link (&self->events, l);
          event_free (event);
        }
      l = next;
    }
}

static void set_connection_locked (RabcClient     *self,
                                   RabcConnection *conn);

/* Ends the connection: every pending request fails with @error, or with
 * RABC_ERROR_CLOSED for a local close (@error NULL); then, with @emit,
 * ::closed is queued and a failed connection is reconnected if wanted. */
static void
client_disconnect_locked (RabcClient   *self,
                          const GError *error,
                          gboolean      emit)
{
  g_autoptr(GError) pending_error = NULL;
  RabcCall *call;

  if (self->conn == NULL)
    return;

  set_connection_locked (self, NULL);

  if (error != NULL)
    pending_error = g_error_copy (error);
  else
    {
      pending_error = g_error_new (RABC_ERROR, RABC_ERROR_CLOSED,
                                   "the connection to %s was closed", self->socket_path);
      /* No ::reply once close() has been called, even for a ping answered
       * before it. */
      drop_reply_events_locked (self);
    }

  while ((call = rabc_call_queue_pop (&self->calls)) != NULL)
    {
      complete_call_locked (self, call, NULL, 0, g_error_copy (pending_error));
      rabc_call_free (call);
    }

  if (emit)
    {
      queue_notify_locked (self, PROP_CONNECTED);
      queue_event_locked (self, EVENT_CLOSED, NULL, NULL,
                          error != NULL ? g_error_copy (error) : NULL);

      /* Only a connection that failed comes back by itself. */
      if (error != NULL && self->auto_reconnect)
        schedule_reconnect_locked (self);
    }
}

static void
client_fail_locked (RabcClient *self,
                    GError     *error)
{
  client_disconnect_locked (self, error, TRUE);
  g_error_free (error);
}

/* The connection's callbacks run with the lock held. */
static gboolean
on_message (RabcConnection *conn,
            const char     *text,
            gsize           len,
            gpointer        user_data)
{
  RabcClient *self = user_data;
  RabcCall *call = rabc_call_queue_pop (&self->calls);

  if (call == NULL)
    {
      client_fail_locked (self, g_error_new (RABC_ERROR, RABC_ERROR_INVALID_DATA,
                                             "%s sent a message of %" G_GSIZE_FORMAT
                                             " bytes that answers no request",
                                             self->socket_path, len));
      return FALSE;
    }

  complete_call_locked (self, call, text, len, NULL);
  rabc_call_free (call);
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
  client_disconnect_locked (self, copy, TRUE);
}

static void
on_watch (RabcConnection *conn,
          GIOCondition    events,
          gpointer        user_data)
{
  RabcClient *self = user_data;

  update_io_watch_locked (self);
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
  g_autoptr(RabcClient) self = g_weak_ref_get (user_data);

  if (self == NULL)
    return G_SOURCE_CONTINUE;

  client_lock (self);
  /* A source destroyed by another thread may still be dispatched once. */
  if (!g_source_is_destroyed (g_main_current_source ()))
    {
      if (self->reading)
        update_io_watch_locked (self);
      else
        rabc_connection_handle_io (self->conn, condition);
    }
  client_unlock_from_source (self);
  return G_SOURCE_CONTINUE;
}

static void
arm_deadline_locked (RabcClient *self,
                     gint64      deadline)
{
  gint64 ready_time;

  if (deadline < 0 || self->deadline_source == NULL)
    return;

  ready_time = g_source_get_ready_time (self->deadline_source);
  if (ready_time < 0 || deadline < ready_time)
    g_source_set_ready_time (self->deadline_source, deadline);
}

#define CONTEXT_TIMED_CALLS (RABC_CALL_KIND_MASK (RABC_CALL_PING) | \
                             RABC_CALL_KIND_MASK (RABC_CALL_TASK))

/* Times out pings and asynchronous requests; synchronous calls time out
 * in their own thread. */
static gboolean
on_deadline (gpointer user_data)
{
  g_autoptr(RabcClient) self = g_weak_ref_get (user_data);
  gint64 now = g_get_monotonic_time ();
  RabcCall *call;

  if (self == NULL)
    return G_SOURCE_CONTINUE;

  client_lock (self);

  if (!g_source_is_destroyed (g_main_current_source ()))
    {
      g_source_set_ready_time (self->deadline_source, -1);

      while ((call = rabc_call_queue_find_expired (&self->calls, CONTEXT_TIMED_CALLS, now)) != NULL)
        {
          /* Pings keep the connection honest: a daemon that does not answer
           * one in time is taken to be gone. */
          if (call->kind == RABC_CALL_PING)
            {
              client_fail_locked (self, g_error_new (RABC_ERROR, RABC_ERROR_TIMED_OUT,
                                                     "%s did not answer a ping within %u ms",
                                                     self->socket_path, self->timeout));
              break;
            }

          complete_call_locked (self, call, NULL, 0,
                                g_error_new (RABC_ERROR, RABC_ERROR_TIMED_OUT,
                                             "%s sent no reply within %u ms",
                                             self->socket_path, self->timeout));
        }

      arm_deadline_locked (self, rabc_call_queue_get_next_deadline (&self->calls,
                                                                    CONTEXT_TIMED_CALLS));
    }

  client_unlock (self);
  return G_SOURCE_CONTINUE;
}

/* Queues @len bytes of @data and the request they make; the caller then
 * records the request in @waiter and flushes. */
static RabcCall *
client_send_locked (RabcClient    *self,
                    RabcCallKind   kind,
                    gpointer       waiter,
                    const char    *data,
                    gsize          len,
                    GError       **error)
{
  RabcCall *call;
  gint64 now;

  if (self->conn == NULL)
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_CLOSED,
                   "the client is not connected to %s", self->socket_path);
      return NULL;
    }

  if (!rabc_connection_queue_message (self->conn, data, len, error))
    return NULL;

  now = g_get_monotonic_time ();
  call = rabc_call_queue_push (&self->calls, kind, waiter, now, deadline_after_locked (self, now));
  if (kind != RABC_CALL_SYNC)
    arm_deadline_locked (self, call->deadline);
  return call;
}

static void
client_flush_locked (RabcClient *self)
{
  /* A failure ends the connection, through on_failed(). */
  if (self->conn != NULL)
    rabc_connection_flush (self->conn);
}

static gboolean
on_ping (gpointer user_data)
{
  g_autoptr(RabcClient) self = g_weak_ref_get (user_data);
  g_autoptr(GError) error = NULL;

  if (self == NULL)
    return G_SOURCE_CONTINUE;

  client_lock (self);

  /* A ping that cannot be sent, say because it is too long, would leave the
   * connection unwatched: report it as the end of the connection. */
  if (g_source_is_destroyed (g_main_current_source ()))
    ;
  else if (client_send_locked (self, RABC_CALL_PING, self, self->ping_message,
                               strlen (self->ping_message), &error) == NULL)
    {
      g_prefix_error (&error, "cannot send an automatic ping: ");
      client_fail_locked (self, g_steal_pointer (&error));
    }
  else
    client_flush_locked (self);

  client_unlock (self);
  return G_SOURCE_CONTINUE;
}

static void
restart_ping_timer_locked (RabcClient *self)
{
  rabc_clear_source (&self->ping_source);

  if (self->conn == NULL || self->ping_interval == 0)
    return;

  self->ping_source = g_timeout_source_new (self->ping_interval);
  g_source_set_static_name (self->ping_source, "[rabc] automatic ping");
  g_source_set_can_recurse (self->ping_source, TRUE);
  g_source_set_callback (self->ping_source, on_ping, weak_ref_new (self), weak_ref_free);
  g_source_attach (self->ping_source, self->context);
}

/* Takes @conn; NULL drops the current connection and its sources. */
static void
set_connection_locked (RabcClient     *self,
                       RabcConnection *conn)
{
  rabc_clear_source (&self->io_source);
  rabc_clear_source (&self->deadline_source);
  if (self->conn != NULL)
    {
      /* Close now: a read in progress must stop delivering messages, and a
       * thread waiting on the socket must wake. */
      rabc_connection_close (self->conn);
      g_clear_pointer (&self->conn, rabc_connection_unref);
    }

  self->conn = conn;

  if (conn != NULL)
    {
      self->io_source = rabc_fd_source_new (rabc_connection_get_fd (conn), G_IO_IN);
      g_source_set_callback (self->io_source, (GSourceFunc) (void (*) (void)) on_io,
                             weak_ref_new (self), weak_ref_free);
      g_source_attach (self->io_source, self->context);

      self->deadline_source = rabc_deadline_source_new ("[rabc] reply deadline", on_deadline,
                                                        weak_ref_new (self), weak_ref_free,
                                                        self->context);
      g_source_set_can_recurse (self->deadline_source, TRUE);
    }

  restart_ping_timer_locked (self);
}

/* Connects to the socket and checks who listens on it: root, this
 * process's user or @trusted_uid.  A full backlog is
 * G_IO_ERROR_WOULD_BLOCK, for the caller to retry.  Needs no lock. */
static int
connect_to_server (RabcClient  *self,
                   guint        trusted_uid,
                   GError     **error)
{
  int fd = rabc_socket_connect (self->socket_path, error);
  pid_t server_pid;
  uid_t server_uid;

  if (fd < 0)
    return -1;

  if (!rabc_socket_get_peer (fd, &server_pid, &server_uid, NULL))
    {
      int errsv = errno;

      close (fd);
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot tell who listens on %s: %s", self->socket_path, g_strerror (errsv));
      return -1;
    }

  if (server_uid != 0 && server_uid != geteuid () &&
      trusted_uid != RABC_SERVER_UID_ANY && server_uid != trusted_uid)
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
client_connected_locked (RabcClient *self,
                         int         fd)
{
  set_connection_locked (self, rabc_connection_new (fd, self->max_message_size,
                                                    &connection_funcs, self));
  g_debug ("connected to %s", self->socket_path);
  queue_notify_locked (self, PROP_CONNECTED);
}

static void
stop_reconnecting_locked (RabcClient *self)
{
  rabc_clear_source (&self->reconnect_source);
  self->reconnect_wanted = FALSE;
  self->reconnect_delay = 0;
}

static gboolean
on_reconnect (gpointer user_data)
{
  g_autoptr(RabcClient) self = g_weak_ref_get (user_data);
  g_autoptr(GError) error = NULL;
  guint trusted_uid;
  int fd;

  if (self == NULL)
    return G_SOURCE_REMOVE;

  client_lock (self);
  if (g_source_is_destroyed (g_main_current_source ()))
    {
      rabc_mutex_unlock (&self->lock);
      return G_SOURCE_REMOVE;
    }
  g_clear_pointer (&self->reconnect_source, g_source_unref);
  trusted_uid = self->server_uid;
  rabc_mutex_unlock (&self->lock);

  fd = connect_to_server (self, trusted_uid, &error);

  client_lock (self);
  if (!self->reconnect_wanted || self->conn != NULL)
    {
      /* Closed, or connected by another thread, meanwhile. */
      if (fd >= 0)
        close (fd);
    }
  else if (fd < 0)
    {
      g_debug ("reconnecting: %s", error->message);
      schedule_reconnect_locked (self);
    }
  else
    {
      self->reconnect_wanted = FALSE;
      self->reconnect_delay = 0;
      client_connected_locked (self, fd);
    }
  client_unlock (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect_locked (RabcClient *self)
{
  if (self->reconnect_source != NULL || self->disposed)
    return;

  self->reconnect_wanted = TRUE;
  self->reconnect_delay = self->reconnect_delay == 0
                        ? RECONNECT_FIRST_DELAY_MS
                        : MIN (self->reconnect_delay * 2, RECONNECT_MAX_DELAY_MS);
  g_debug ("reconnecting to %s in %u ms", self->socket_path, self->reconnect_delay);

  self->reconnect_source = g_timeout_source_new (self->reconnect_delay);
  g_source_set_static_name (self->reconnect_source, "[rabc] reconnect");
  g_source_set_can_recurse (self->reconnect_source, TRUE);
  g_source_set_callback (self->reconnect_source, on_reconnect, weak_ref_new (self), weak_ref_free);
  g_source_attach (self->reconnect_source, self->context);
}

/* --- initialization ----------------------------------------------------- */

/* Records the outcome of the first init to finish, which every later one
 * returns too.  Takes @fd (>= 0) or @error. */
static void
finish_init_locked (RabcClient *self,
                    int         fd,
                    GError     *error)
{
  self->init_done = TRUE;
  if (fd >= 0)
    client_connected_locked (self, fd);
  else
    self->init_error = error;
  client_broadcast_locked (self);
}

static gboolean
get_init_outcome_locked (RabcClient  *self,
                         GError     **error)
{
  if (self->init_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->init_error));
      return FALSE;
    }
  return TRUE;
}

/* One connection attempt of an init.  Returns TRUE when the init is over,
 * by this attempt or by another, FALSE when the daemon's backlog is full
 * and the caller should try again after CONNECT_RETRY_MS. */
static gboolean
init_attempt (RabcClient   *self,
              gint64        deadline,
              GCancellable *cancellable)
{
  g_autoptr(GError) error = NULL;
  guint trusted_uid;
  int fd = -1;

  client_lock (self);
  if (self->init_done)
    {
      rabc_mutex_unlock (&self->lock);
      return TRUE;
    }
  trusted_uid = self->server_uid;
  rabc_mutex_unlock (&self->lock);

  if (!g_cancellable_set_error_if_cancelled (cancellable, &error))
    fd = connect_to_server (self, trusted_uid, &error);

  client_lock (self);
  if (self->init_done)
    {
      /* Another init finished first. */
      if (fd >= 0)
        close (fd);
    }
  else if (fd >= 0)
    finish_init_locked (self, fd, NULL);
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    finish_init_locked (self, -1, g_steal_pointer (&error));
  else if (deadline >= 0 && g_get_monotonic_time () >= deadline)
    finish_init_locked (self, -1,
                        g_error_new (RABC_ERROR, RABC_ERROR_TIMED_OUT,
                                     "%s accepted no connection within %u ms: "
                                     "its backlog of connections stayed full",
                                     self->socket_path, self->timeout));
  else
    {
      rabc_mutex_unlock (&self->lock);
      return FALSE;
    }
  client_unlock (self);
  return TRUE;
}

static gint64
init_deadline (RabcClient *self)
{
  gint64 deadline;

  client_lock (self);
  deadline = deadline_after_locked (self, g_get_monotonic_time ());
  rabc_mutex_unlock (&self->lock);
  return deadline;
}

static gboolean
rabc_client_initable_init (GInitable     *initable,
                           GCancellable  *cancellable,
                           GError       **error)
{
  RabcClient *self = RABC_CLIENT (initable);
  gint64 deadline = init_deadline (self);
  gboolean ok;

  /* As GDBusConnection: the first init to finish, synchronous or not,
   * decides, and every init returns its outcome. */
  while (!init_attempt (self, deadline, cancellable))
    g_usleep (CONNECT_RETRY_MS * 1000);

  client_lock (self);
  ok = get_init_outcome_locked (self, error);
  rabc_mutex_unlock (&self->lock);
  return ok;
}

static void
rabc_client_initable_iface_init (GInitableIface *iface)
{
  iface->init = rabc_client_initable_init;
}

typedef struct {
  gint64 deadline;
} InitData;

static gboolean
on_init_attempt (gpointer user_data)
{
  GTask *task = user_data;
  RabcClient *self = g_task_get_source_object (task);
  InitData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSource) retry = NULL;

  if (init_attempt (self, data->deadline, g_task_get_cancellable (task)))
    {
      client_lock (self);
      get_init_outcome_locked (self, &error);
      rabc_mutex_unlock (&self->lock);

      if (error != NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_boolean (task, TRUE);
      return G_SOURCE_REMOVE;
    }

  retry = g_timeout_source_new (CONNECT_RETRY_MS);
  g_source_set_static_name (retry, "[rabc] connect retry");
  g_source_set_callback (retry, on_init_attempt, g_object_ref (task), g_object_unref);
  g_source_attach (retry, g_task_get_context (task));
  return G_SOURCE_REMOVE;
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

  data = g_new0 (InitData, 1);
  data->deadline = init_deadline (self);
  g_task_set_task_data (task, data, g_free);

  on_init_attempt (task);
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

/* --- GObject ------------------------------------------------------------ */

static void
rabc_client_constructed (GObject *object)
{
  RabcClient *self = RABC_CLIENT (object);

  G_OBJECT_CLASS (rabc_client_parent_class)->constructed (object);

  self->context = g_main_context_ref_thread_default ();
  if (self->socket_path == NULL)
    self->socket_path = g_strdup (rabc_get_default_socket_path ());

  self->wake_source = rabc_deadline_source_new ("[rabc] client events", on_wake,
                                                weak_ref_new (self), weak_ref_free,
                                                self->context);
  /* A handler may run a nested main loop that waits for a later event. */
  g_source_set_can_recurse (self->wake_source, TRUE);
}

static void
rabc_client_dispose (GObject *object)
{
  RabcClient *self = RABC_CLIENT (object);

  /* Nobody can listen any more: close without signals. */
  client_lock (self);
  self->disposed = TRUE;
  stop_reconnecting_locked (self);
  client_disconnect_locked (self, NULL, FALSE);
  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  if (self->wake_source != NULL)
    g_source_destroy (self->wake_source);
  rabc_mutex_unlock (&self->lock);

  G_OBJECT_CLASS (rabc_client_parent_class)->dispose (object);
}

static void
rabc_client_finalize (GObject *object)
{
  RabcClient *self = RABC_CLIENT (object);

  /* What other threads wrote is seen through the lock. */
  client_lock (self);
  rabc_call_queue_clear (&self->calls);
  g_clear_error (&self->init_error);
  g_clear_pointer (&self->ping_message, g_free);
  rabc_mutex_unlock (&self->lock);

  g_clear_pointer (&self->wake_source, g_source_unref);
  g_clear_pointer (&self->socket_path, g_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  rabc_mutex_clear (&self->lock);
  rabc_cond_clear (&self->cond);

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
      g_value_set_uint (value, rabc_client_get_ping_interval (self));
      break;
    case PROP_PING_MESSAGE:
      g_value_take_string (value, rabc_client_dup_ping_message (self));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint (value, rabc_client_get_max_message_size (self));
      break;
    case PROP_TIMEOUT:
      g_value_set_uint (value, rabc_client_get_timeout (self));
      break;
    case PROP_ROUND_TRIP_TIME:
      g_value_set_int64 (value, rabc_client_get_round_trip_time (self));
      break;
    case PROP_AUTO_RECONNECT:
      g_value_set_boolean (value, rabc_client_get_auto_reconnect (self));
      break;
    case PROP_SERVER_UID:
      g_value_set_uint (value, rabc_client_get_server_uid (self));
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
   * The text of automatic pings, valid UTF-8 without U+0000. Setting it
   * to `NULL` sets the default, `ping`.
   */
  properties[PROP_PING_MESSAGE] =
    g_param_spec_string ("ping-message", NULL, NULL,
                         DEFAULT_PING_MESSAGE,
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
   * Emitted for the reply to each automatic ping, in the client's
   * context. Replies to requests go to the callers of
   * [method@Rabc.Client.send_async] and [method@Rabc.Client.send_sync]
   * instead. A reply holding U+0000 cannot be a string: it is dropped.
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
   * Emitted once when the connection ends, in the client's context. By
   * then every pending request has failed; their callbacks, and the
   * threads blocked in [method@Rabc.Client.send_sync], learn it in their
   * own contexts and threads, maybe after this signal. The error is
   * %RABC_ERROR_IPC_CONNECTION when the daemon went away,
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
  rabc_mutex_init (&self->lock);
  rabc_cond_init (&self->cond);
  rabc_call_queue_init (&self->calls);
  g_queue_init (&self->events);
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
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when @cancellable is
 * cancelled before the client connects;
 * otherwise an error of the [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_INVALID_ARGUMENT](error.Error.html#invalid_argument): the
 *   socket path is empty, or too long for a Unix socket address (107 bytes
 *   at most)
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): no
 *   daemon listens on the path (nothing is there, nobody listens on the
 *   socket file, or it is not a socket), the user may not connect to it,
 *   the system refused a socket, or who listens cannot be told
 * - [%RABC_ERROR_UNTRUSTED_SERVER](error.Error.html#untrusted_server): the
 *   daemon runs as a user other than root, the client's own user and
 *   [property@Rabc.Client:server-uid]
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): the daemon's
 *   backlog of connections stayed full for [property@Rabc.Client:timeout]
 *   milliseconds; with a timeout of 0 the client tries until cancelled
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
 *
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when @cancellable is
 * cancelled before the callback runs;
 * otherwise an error of the [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_INVALID_ARGUMENT](error.Error.html#invalid_argument): the
 *   socket path is empty, or too long for a Unix socket address (107 bytes
 *   at most)
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): no
 *   daemon listens on the path (nothing is there, nobody listens on the
 *   socket file, or it is not a socket), the user may not connect to it,
 *   the system refused a socket, or who listens cannot be told
 * - [%RABC_ERROR_UNTRUSTED_SERVER](error.Error.html#untrusted_server): the
 *   daemon runs as a user other than root, the client's own user and
 *   [property@Rabc.Client:server-uid]
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): the daemon's
 *   backlog of connections stayed full for [property@Rabc.Client:timeout]
 *   milliseconds; with a timeout of 0 the client tries until cancelled
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
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when the cancellable
 * given to [func@Rabc.Client.new_async] is cancelled before the
 * callback runs;
 * otherwise an error of the [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_INVALID_ARGUMENT](error.Error.html#invalid_argument): the
 *   socket path is empty, or too long for a Unix socket address (107 bytes
 *   at most)
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): no
 *   daemon listens on the path (nothing is there, nobody listens on the
 *   socket file, or it is not a socket), the user may not connect to it,
 *   the system refused a socket, or who listens cannot be told
 * - [%RABC_ERROR_UNTRUSTED_SERVER](error.Error.html#untrusted_server): the
 *   daemon runs as a user other than root, the client's own user and
 *   [property@Rabc.Client:server-uid]
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): the daemon's
 *   backlog of connections stayed full for [property@Rabc.Client:timeout]
 *   milliseconds; with a timeout of 0 the client tries until cancelled
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
  gboolean connected;

  g_return_val_if_fail (RABC_IS_CLIENT (self), FALSE);

  client_lock (self);
  connected = self->conn != NULL;
  rabc_mutex_unlock (&self->lock);
  return connected;
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
  guint interval;

  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  client_lock (self);
  interval = self->ping_interval;
  rabc_mutex_unlock (&self->lock);
  return interval;
}

/**
 * rabc_client_set_ping_interval:
 * @self: a [class@Rabc.Client]
 * @interval_ms: the interval in milliseconds, or 0 to turn automatic pings
 *   off
 *
 * Sets the interval between automatic pings; the next ping is sent one full
 * interval from now. A ping already sent is still answered.
 */
void
rabc_client_set_ping_interval (RabcClient *self,
                               guint       interval_ms)
{
  g_return_if_fail (RABC_IS_CLIENT (self));

  client_lock (self);
  if (self->ping_interval != interval_ms)
    {
      self->ping_interval = interval_ms;
      restart_ping_timer_locked (self);
      queue_notify_locked (self, PROP_PING_INTERVAL);
    }
  client_unlock (self);
}

/**
 * rabc_client_get_ping_message:
 * @self: a [class@Rabc.Client]
 *
 * Gets the text of automatic pings. The string belongs to the client and
 * is freed when the ping message changes: a thread other than the one
 * that sets it uses [method@Rabc.Client.dup_ping_message] instead.
 *
 * Returns: the text of automatic pings
 */
const char *
rabc_client_get_ping_message (RabcClient *self)
{
  const char *message;

  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);

  client_lock (self);
  message = self->ping_message;
  rabc_mutex_unlock (&self->lock);
  return message;
}

/**
 * rabc_client_dup_ping_message:
 * @self: a [class@Rabc.Client]
 *
 * Gets a copy of the text of automatic pings, safe to use while another
 * thread changes it.
 *
 * Returns: (transfer full): the text of automatic pings
 */
char *
rabc_client_dup_ping_message (RabcClient *self)
{
  char *message;

  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);

  client_lock (self);
  message = g_strdup (self->ping_message);
  rabc_mutex_unlock (&self->lock);
  return message;
}

/**
 * rabc_client_set_ping_message:
 * @self: a [class@Rabc.Client]
 * @message: (nullable): the text of automatic pings, valid UTF-8, or
 *   `NULL` for the default
 *
 * Sets the text of automatic pings. The default is `ping`.
 */
void
rabc_client_set_ping_message (RabcClient *self,
                              const char *message)
{
  g_return_if_fail (RABC_IS_CLIENT (self));
  g_return_if_fail (message == NULL || g_utf8_validate (message, -1, NULL));

  if (message == NULL)
    message = DEFAULT_PING_MESSAGE;

  client_lock (self);
  if (g_strcmp0 (self->ping_message, message) != 0)
    {
      g_free (self->ping_message);
      self->ping_message = g_strdup (message);
      queue_notify_locked (self, PROP_PING_MESSAGE);
    }
  client_unlock (self);
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
  guint size;

  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  client_lock (self);
  size = self->max_message_size;
  rabc_mutex_unlock (&self->lock);
  return size;
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

  client_lock (self);
  if (self->max_message_size != max_message_size)
    {
      self->max_message_size = max_message_size;
      if (self->conn != NULL)
        rabc_connection_set_max_message_size (self->conn, max_message_size);
      queue_notify_locked (self, PROP_MAX_MESSAGE_SIZE);
    }
  client_unlock (self);
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
  guint timeout;

  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  client_lock (self);
  timeout = self->timeout;
  rabc_mutex_unlock (&self->lock);
  return timeout;
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

  client_lock (self);
  if (self->timeout != timeout_ms)
    {
      self->timeout = timeout_ms;
      queue_notify_locked (self, PROP_TIMEOUT);
    }
  client_unlock (self);
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
  gint64 round_trip_time;

  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  client_lock (self);
  round_trip_time = self->round_trip_time;
  rabc_mutex_unlock (&self->lock);
  return round_trip_time;
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
  gboolean auto_reconnect;

  g_return_val_if_fail (RABC_IS_CLIENT (self), FALSE);

  client_lock (self);
  auto_reconnect = self->auto_reconnect;
  rabc_mutex_unlock (&self->lock);
  return auto_reconnect;
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

  client_lock (self);
  if (self->auto_reconnect != auto_reconnect)
    {
      self->auto_reconnect = auto_reconnect;
      if (!auto_reconnect)
        stop_reconnecting_locked (self);
      queue_notify_locked (self, PROP_AUTO_RECONNECT);
    }
  client_unlock (self);
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
  guint server_uid;

  g_return_val_if_fail (RABC_IS_CLIENT (self), 0);

  client_lock (self);
  server_uid = self->server_uid;
  rabc_mutex_unlock (&self->lock);
  return server_uid;
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

  client_lock (self);
  if (self->server_uid != server_uid)
    {
      self->server_uid = server_uid;
      queue_notify_locked (self, PROP_SERVER_UID);
    }
  client_unlock (self);
}

/* --- requests ----------------------------------------------------------- */

static void
on_sync_cancelled (GCancellable *cancellable,
                   gpointer      user_data)
{
  RabcClient *self = user_data;

  client_lock (self);
  client_broadcast_locked (self);
  rabc_mutex_unlock (&self->lock);
}

/* Gives up waiting for @wait's reply with @error (taken); a reply that
 * still comes is dropped. */
static void
give_up_locked (SyncWait *wait,
                GError   *error)
{
  if (wait->done)
    {
      g_error_free (error);
      return;
    }

  rabc_call_abandon (wait->call);
  wait->call = NULL;
  outcome_clear (&wait->outcome);
  wait->outcome.error = error;
  wait->done = TRUE;
}

/* Blocks until @wait is done.  The first thread to wait reads the socket
 * for everybody, without the lock; the others wait to be handed their
 * replies, or to read in turn. */
static void
wait_for_reply_locked (RabcClient    *self,
                       SyncWait      *wait,
                       gint64         deadline,
                       GCancellable  *cancellable,
                       const GPollFD *cancel_fd)
{
  while (!wait->done)
    {
      g_autoptr(GError) error = NULL;

      if (g_cancellable_set_error_if_cancelled (cancellable, &error))
        {
          give_up_locked (wait, g_steal_pointer (&error));
          break;
        }

      if (self->reading)
        {
          if (!client_wait (self, deadline) && !wait->done)
            give_up_locked (wait, g_error_new (RABC_ERROR, RABC_ERROR_TIMED_OUT,
                                               "%s: timed out waiting for a reply",
                                               self->socket_path));
          continue;
        }

      {
        RabcConnectionWait io;

        /* Until @wait is done, its request is in the queue and the
         * connection open. */
        if (!rabc_connection_wait_begin (self->conn, &io, deadline, cancellable, cancel_fd,
                                         &error))
          {
            g_prefix_error (&error, "%s: ", self->socket_path);
            give_up_locked (wait, g_steal_pointer (&error));
            break;
          }

        self->reading = TRUE;
        rabc_mutex_unlock (&self->lock);

        rabc_connection_wait (&io);

        client_lock (self);
        self->reading = FALSE;

        if (!rabc_connection_wait_end (&io, &error) && !wait->done)
          {
            if (g_error_matches (error, RABC_ERROR, RABC_ERROR_TIMED_OUT))
              g_prefix_error (&error, "%s: ", self->socket_path);
            give_up_locked (wait, g_steal_pointer (&error));
          }

        /* Another thread may read now, or the socket source again; what
         * the read queued for the client's context goes there now, not
         * when this call returns. */
        client_broadcast_locked (self);
        update_io_watch_locked (self);
        if (self->events.length > 0)
          wake_context (self);
      }
    }
}

/* Sends @len bytes of @data and waits for the reply, as @wait->outcome. */
static void
send_sync_internal (RabcClient   *self,
                    const char   *data,
                    gsize         len,
                    SyncWait     *wait,
                    GCancellable *cancellable)
{
  GError *error = NULL;
  gulong cancelled_id = 0;
  GPollFD cancel_fd;
  gboolean have_cancel_fd = FALSE;
  RabcCall *call;

  if (g_cancellable_set_error_if_cancelled (cancellable, &wait->outcome.error))
    return;

  /* The handler takes the lock, and a cancellable may hold its own while
   * it runs: connect, disconnect, make and release the descriptor
   * without the lock. */
  if (cancellable != NULL)
    {
      cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_sync_cancelled), self, NULL);
      have_cancel_fd = g_cancellable_make_pollfd (cancellable, &cancel_fd);
    }

  g_object_ref (self);
  client_lock (self);

  call = client_send_locked (self, RABC_CALL_SYNC, wait, data, len, &error);
  if (call == NULL)
    wait->outcome.error = error;
  else
    {
      /* A failed flush ends the connection and frees @call. */
      gint64 deadline = call->deadline;

      wait->call = call;
      client_flush_locked (self);
      wait_for_reply_locked (self, wait, deadline, cancellable,
                             have_cancel_fd ? &cancel_fd : NULL);
    }

  client_unlock (self);
  if (have_cancel_fd)
    g_cancellable_release_fd (cancellable);
  g_cancellable_disconnect (cancellable, cancelled_id);
  g_object_unref (self);
}

/**
 * rabc_client_send_sync:
 * @self: a [class@Rabc.Client]
 * @message: the text to send, valid UTF-8
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a [struct@GLib.Error]
 *
 * Sends @message and blocks until its reply arrives. No main loop is
 * needed, and other threads may send at the same time. When the calling
 * thread can hold the client's context (it runs it, or no thread does),
 * signals for what arrives meanwhile, such as [signal@Rabc.Client::reply],
 * may be emitted during the call.
 *
 * A message holding U+0000 needs [method@Rabc.Client.send_bytes_sync]; a
 * reply holding it fails with %RABC_ERROR_INVALID_DATA here.
 *
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when @cancellable is
 * cancelled before the reply arrives; otherwise an error of the
 * [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_CLOSED](error.Error.html#closed): the client is not
 *   connected (it was closed, its connection ended, or it waits to
 *   reconnect), or [method@Rabc.Client.close] was called before the reply
 *   arrived
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): no reply arrived
 *   within [property@Rabc.Client:timeout] milliseconds, or an automatic
 *   ping went unanswered that long, which ends the connection
 * - [%RABC_ERROR_EXCEEDED_IPC_MAX_SIZE](error.Error.html#exceeded_ipc_max_size):
 *   @message is not shorter than [property@Rabc.Client:max-message-size],
 *   or the daemon sent a message that is not, which ends the connection
 * - [%RABC_ERROR_INVALID_DATA](error.Error.html#invalid_data): @message is
 *   not valid UTF-8, the reply holds U+0000, or the daemon sent text that
 *   is not valid UTF-8, which ends the connection
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): the
 *   daemon went away, or reading or writing the socket failed, before the
 *   reply arrived
 * - [%RABC_ERROR_NO_MEMORY](error.Error.html#no_memory): the memory for
 *   @message, or for the reply (which ends the connection), could not be
 *   allocated
 * - [%RABC_ERROR_BUG](error.Error.html#bug): an internal error of librabc
 *
 * Returns: (transfer full): the reply, or `NULL` with @error set
 */
char *
rabc_client_send_sync (RabcClient    *self,
                       const char    *message,
                       GCancellable  *cancellable,
                       GError       **error)
{
  SyncWait wait = { { FALSE } };

  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);
  g_return_val_if_fail (message != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  send_sync_internal (self, message, strlen (message), &wait, cancellable);

  if (wait.outcome.error != NULL)
    {
      g_propagate_error (error, wait.outcome.error);
      return NULL;
    }
  return wait.outcome.text;
}

/**
 * rabc_client_send_bytes_sync:
 * @self: a [class@Rabc.Client]
 * @message: the message to send, valid UTF-8, which may hold U+0000
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a [struct@GLib.Error]
 *
 * Sends @message and blocks until its reply arrives, as
 * [method@Rabc.Client.send_sync] does, but byte for byte: U+0000 goes
 * through in both directions.
 *
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when @cancellable is
 * cancelled before the reply arrives; otherwise an error of the
 * [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_CLOSED](error.Error.html#closed): the client is not
 *   connected (it was closed, its connection ended, or it waits to
 *   reconnect), or [method@Rabc.Client.close] was called before the reply
 *   arrived
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): no reply arrived
 *   within [property@Rabc.Client:timeout] milliseconds, or an automatic
 *   ping went unanswered that long, which ends the connection
 * - [%RABC_ERROR_EXCEEDED_IPC_MAX_SIZE](error.Error.html#exceeded_ipc_max_size):
 *   @message is not shorter than [property@Rabc.Client:max-message-size],
 *   or the daemon sent a message that is not, which ends the connection
 * - [%RABC_ERROR_INVALID_DATA](error.Error.html#invalid_data): @message is
 *   not valid UTF-8, or the daemon sent bytes that are not, which ends the
 *   connection
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): the
 *   daemon went away, or reading or writing the socket failed, before the
 *   reply arrived
 * - [%RABC_ERROR_NO_MEMORY](error.Error.html#no_memory): the memory for
 *   @message, or for the reply (which ends the connection), could not be
 *   allocated
 * - [%RABC_ERROR_BUG](error.Error.html#bug): an internal error of librabc
 *
 * Returns: (transfer full): the reply, or `NULL` with @error set
 */
GBytes *
rabc_client_send_bytes_sync (RabcClient    *self,
                             GBytes        *message,
                             GCancellable  *cancellable,
                             GError       **error)
{
  SyncWait wait = { { TRUE } };
  gsize len;
  const char *data;

  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);
  g_return_val_if_fail (message != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (message, &len);
  send_sync_internal (self, data != NULL ? data : "", len, &wait, cancellable);

  if (wait.outcome.error != NULL)
    {
      g_propagate_error (error, wait.outcome.error);
      return NULL;
    }
  return wait.outcome.bytes;
}

/* Dispatched in the task's context when its cancellable is cancelled. */
static gboolean
on_send_cancelled (GCancellable *cancellable,
                   gpointer      user_data)
{
  GTask *task = user_data;
  RabcClient *self = g_task_get_source_object (task);
  SendData *data = g_task_get_task_data (task);

  client_lock (self);
  if (data->call != NULL)
    {
      /* Still waiting: the reply, if one comes, is dropped. */
      GTask *waiter = data->call->waiter;

      rabc_call_abandon (data->call);
      data->call = NULL;
      outcome_clear (&data->outcome);
      data->outcome.error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                 "Operation was cancelled");
      return_task_later (waiter);
    }
  rabc_mutex_unlock (&self->lock);

  return G_SOURCE_REMOVE;
}

static void
send_async_internal (RabcClient          *self,
                     const char          *message,
                     gsize                len,
                     gboolean             as_bytes,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data,
                     gpointer             source_tag)
{
  g_autoptr(GTask) task = NULL;
  GSource *cancel_source = NULL;
  GError *error = NULL;
  SendData *data;
  RabcCall *call;

  /* As everywhere in GIO, a request cancelled before its callback runs
   * fails with G_IO_ERROR_CANCELLED, even when its reply came. */
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);

  if (g_task_return_error_if_cancelled (task))
    return;

  data = g_new0 (SendData, 1);
  data->outcome.as_bytes = as_bytes;
  g_task_set_task_data (task, data, (GDestroyNotify) send_data_free);

  if (cancellable != NULL)
    {
      cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_static_name (cancel_source, "[rabc] send cancelled");
      g_source_set_callback (cancel_source, (GSourceFunc) (void (*) (void)) on_send_cancelled,
                             g_object_ref (task), g_object_unref);
    }

  client_lock (self);
  call = client_send_locked (self, RABC_CALL_TASK, g_object_ref (task), message, len, &error);
  if (call == NULL)
    {
      rabc_mutex_unlock (&self->lock);
      g_object_unref (task);
      g_clear_pointer (&cancel_source, g_source_unref);
      g_task_return_error (task, error);
      return;
    }

  data->call = call;
  if (cancel_source != NULL)
    {
      data->cancel_source = cancel_source;
      g_source_attach (cancel_source, g_task_get_context (task));
    }
  client_flush_locked (self);
  client_unlock (self);
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
 * main context of the caller, in the order the replies come; it calls
 * [method@Rabc.Client.send_finish] to get the reply. The reply is read by
 * the client's context (or by a thread blocked in a synchronous call),
 * which must be running.
 *
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when @cancellable is
 * cancelled before the callback runs, even if the reply has arrived;
 * otherwise an error of the [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_CLOSED](error.Error.html#closed): the client is not
 *   connected (it was closed, its connection ended, or it waits to
 *   reconnect), or [method@Rabc.Client.close] was called before the reply
 *   arrived
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): no reply arrived
 *   within [property@Rabc.Client:timeout] milliseconds, or an automatic
 *   ping went unanswered that long, which ends the connection
 * - [%RABC_ERROR_EXCEEDED_IPC_MAX_SIZE](error.Error.html#exceeded_ipc_max_size):
 *   the message is not shorter than
 *   [property@Rabc.Client:max-message-size], or the daemon sent a message
 *   that is not, which ends the connection
 * - [%RABC_ERROR_INVALID_DATA](error.Error.html#invalid_data): the
 *   message is not valid UTF-8, the reply holds U+0000, or the daemon sent
 *   text that is not valid UTF-8, which ends the connection
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): the
 *   daemon went away, or reading or writing the socket failed, before the
 *   reply arrived
 * - [%RABC_ERROR_NO_MEMORY](error.Error.html#no_memory): the memory for
 *   the message, or for the reply (which ends the connection), could not
 *   be allocated
 * - [%RABC_ERROR_BUG](error.Error.html#bug): an internal error of librabc
 */
void
rabc_client_send_async (RabcClient          *self,
                        const char          *message,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_return_if_fail (RABC_IS_CLIENT (self));
  g_return_if_fail (message != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  send_async_internal (self, message, strlen (message), FALSE, cancellable, callback, user_data,
                       rabc_client_send_async);
}

/**
 * rabc_client_send_finish:
 * @self: a [class@Rabc.Client]
 * @result: the result passed to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes an operation started with [method@Rabc.Client.send_async].
 *
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when the cancellable
 * given to [method@Rabc.Client.send_async] is cancelled before the callback
 * runs, even if the reply has arrived; otherwise an error of the
 * [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_CLOSED](error.Error.html#closed): the client is not
 *   connected (it was closed, its connection ended, or it waits to
 *   reconnect), or [method@Rabc.Client.close] was called before the reply
 *   arrived
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): no reply arrived
 *   within [property@Rabc.Client:timeout] milliseconds, or an automatic
 *   ping went unanswered that long, which ends the connection
 * - [%RABC_ERROR_EXCEEDED_IPC_MAX_SIZE](error.Error.html#exceeded_ipc_max_size):
 *   the message is not shorter than
 *   [property@Rabc.Client:max-message-size], or the daemon sent a message
 *   that is not, which ends the connection
 * - [%RABC_ERROR_INVALID_DATA](error.Error.html#invalid_data): the
 *   message is not valid UTF-8, the reply holds U+0000, or the daemon sent
 *   text that is not valid UTF-8, which ends the connection
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): the
 *   daemon went away, or reading or writing the socket failed, before the
 *   reply arrived
 * - [%RABC_ERROR_NO_MEMORY](error.Error.html#no_memory): the memory for
 *   the message, or for the reply (which ends the connection), could not
 *   be allocated
 * - [%RABC_ERROR_BUG](error.Error.html#bug): an internal error of librabc
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
 * rabc_client_send_bytes_async:
 * @self: a [class@Rabc.Client]
 * @message: the message to send, valid UTF-8, which may hold U+0000
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async): called when the reply arrives or the request
 *   failed
 * @user_data: data for @callback
 *
 * Sends @message without blocking, as [method@Rabc.Client.send_async]
 * does, but byte for byte: U+0000 goes through in both directions.
 * @callback calls [method@Rabc.Client.send_bytes_finish].
 *
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when @cancellable is
 * cancelled before the callback runs, even if the reply has arrived;
 * otherwise an error of the [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_CLOSED](error.Error.html#closed): the client is not
 *   connected (it was closed, its connection ended, or it waits to
 *   reconnect), or [method@Rabc.Client.close] was called before the reply
 *   arrived
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): no reply arrived
 *   within [property@Rabc.Client:timeout] milliseconds, or an automatic
 *   ping went unanswered that long, which ends the connection
 * - [%RABC_ERROR_EXCEEDED_IPC_MAX_SIZE](error.Error.html#exceeded_ipc_max_size):
 *   the message is not shorter than
 *   [property@Rabc.Client:max-message-size], or the daemon sent a message
 *   that is not, which ends the connection
 * - [%RABC_ERROR_INVALID_DATA](error.Error.html#invalid_data): the
 *   message is not valid UTF-8, or the daemon sent bytes that are not,
 *   which ends the connection
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): the
 *   daemon went away, or reading or writing the socket failed, before the
 *   reply arrived
 * - [%RABC_ERROR_NO_MEMORY](error.Error.html#no_memory): the memory for
 *   the message, or for the reply (which ends the connection), could not
 *   be allocated
 * - [%RABC_ERROR_BUG](error.Error.html#bug): an internal error of librabc
 */
void
rabc_client_send_bytes_async (RabcClient          *self,
                              GBytes              *message,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  const char *data;
  gsize len;

  g_return_if_fail (RABC_IS_CLIENT (self));
  g_return_if_fail (message != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  data = g_bytes_get_data (message, &len);
  send_async_internal (self, data != NULL ? data : "", len, TRUE, cancellable, callback,
                       user_data, rabc_client_send_bytes_async);
}

/**
 * rabc_client_send_bytes_finish:
 * @self: a [class@Rabc.Client]
 * @result: the result passed to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes an operation started with [method@Rabc.Client.send_bytes_async].
 *
 * ## Errors
 *
 * `G_IO_ERROR_CANCELLED` ([error@Gio.IOErrorEnum]) when the cancellable
 * given to [method@Rabc.Client.send_bytes_async] is cancelled before the
 * callback runs, even if the reply has arrived; otherwise an error of the
 * [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_CLOSED](error.Error.html#closed): the client is not
 *   connected (it was closed, its connection ended, or it waits to
 *   reconnect), or [method@Rabc.Client.close] was called before the reply
 *   arrived
 * - [%RABC_ERROR_TIMED_OUT](error.Error.html#timed_out): no reply arrived
 *   within [property@Rabc.Client:timeout] milliseconds, or an automatic
 *   ping went unanswered that long, which ends the connection
 * - [%RABC_ERROR_EXCEEDED_IPC_MAX_SIZE](error.Error.html#exceeded_ipc_max_size):
 *   the message is not shorter than
 *   [property@Rabc.Client:max-message-size], or the daemon sent a message
 *   that is not, which ends the connection
 * - [%RABC_ERROR_INVALID_DATA](error.Error.html#invalid_data): the
 *   message is not valid UTF-8, or the daemon sent bytes that are not,
 *   which ends the connection
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): the
 *   daemon went away, or reading or writing the socket failed, before the
 *   reply arrived
 * - [%RABC_ERROR_NO_MEMORY](error.Error.html#no_memory): the memory for
 *   the message, or for the reply (which ends the connection), could not
 *   be allocated
 * - [%RABC_ERROR_BUG](error.Error.html#bug): an internal error of librabc
 *
 * Returns: (transfer full): the reply, or `NULL` with @error set
 */
GBytes *
rabc_client_send_bytes_finish (RabcClient    *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (RABC_IS_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == rabc_client_send_bytes_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * rabc_client_close:
 * @self: a [class@Rabc.Client]
 *
 * Closes the connection. Requests still awaiting their replies fail with
 * %RABC_ERROR_CLOSED, a thread blocked in [method@Rabc.Client.send_sync]
 * included (a request whose reply was read already keeps it), no
 * [signal@Rabc.Client::reply] comes any more, and
 * [signal@Rabc.Client::closed] is emitted with a `NULL` error. A client
 * waiting to reconnect stops waiting. Closing a closed client does nothing.
 */
void
rabc_client_close (RabcClient *self)
{
  g_return_if_fail (RABC_IS_CLIENT (self));

  client_lock (self);
  stop_reconnecting_locked (self);
  client_disconnect_locked (self, NULL, TRUE);
  client_unlock (self);
}
