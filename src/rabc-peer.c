/* rabc-peer.c: one client connected to a RabcServer
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-lock-private.h"
#include "rabc-server-private.h"

/**
 * RabcPeer:
 *
 * One client connected to a [class@Rabc.Server], as the server sees it:
 * the process, user and group at the other end of the socket, read with
 * `SO_PEERCRED` when it connected, and the requests it sent that the
 * application took and has not answered yet.
 *
 * The server makes a peer for each connection and hands it to
 * [signal@Rabc.Server::client-connected] and
 * [signal@Rabc.Server::client-disconnected];
 * [method@Rabc.Request.get_peer] and [method@Rabc.Server.get_peers] give it
 * too. A peer stays valid after its client is gone, for as long as it is
 * referenced: [property@Rabc.Peer:connected] turns `FALSE` and answering
 * its requests does nothing.
 *
 * The credentials may be read from any thread. Notifications of
 * [property@Rabc.Peer:n-pending] and [property@Rabc.Peer:connected] come in
 * the server's main context.
 *
 * ```c
 * static void
 * on_client_connected (RabcServer *server,
 *                      RabcPeer   *peer,
 *                      gpointer    user_data)
 * {
 *   if (rabc_peer_get_uid (peer) != getuid ())
 *     rabc_peer_close (peer);
 * }
 * ```
 *
 * ```python
 * def on_client_connected(server, peer):
 *     print(f'pid {peer.props.pid} (uid {peer.props.uid}) connected')
 *
 * server.connect('client-connected', on_client_connected)
 * ```
 */

struct _RabcPeer {
  GObject       parent_instance;

  pid_t         pid;
  uid_t         uid;
  gid_t         gid;
  gsize         max_reply_size;

  /* The server's context, NULL once the client is gone, so that a source
   * still waiting there for this peer does not keep the context alive
   * through it. */
  RabcMutex     lock;
  GMainContext *context;
  /* The server's thread, which runs its context. */
  GThread      *thread;

  /* In the server's context only: the server and its record of the
   * client, NULL once the client is gone. */
  RabcServer   *server;
  gpointer      client;

  /* Written in the server's context, read from any thread. */
  guint         n_pending;
  gboolean      connected;
};

G_DEFINE_FINAL_TYPE (RabcPeer, rabc_peer, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PID,
  PROP_UID,
  PROP_GID,
  PROP_N_PENDING,
  PROP_CONNECTED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
rabc_peer_finalize (GObject *object)
{
  RabcPeer *self = RABC_PEER (object);

  rabc_tsan_receive (self);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->thread, g_thread_unref);
  rabc_mutex_clear (&self->lock);

  G_OBJECT_CLASS (rabc_peer_parent_class)->finalize (object);
}

static void
rabc_peer_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  RabcPeer *self = RABC_PEER (object);

  switch (prop_id)
    {
    case PROP_PID:
      g_value_set_int (value, rabc_peer_get_pid (self));
      break;
    case PROP_UID:
      g_value_set_uint (value, rabc_peer_get_uid (self));
      break;
    case PROP_GID:
      g_value_set_uint (value, rabc_peer_get_gid (self));
      break;
    case PROP_N_PENDING:
      g_value_set_uint (value, rabc_peer_get_n_pending (self));
      break;
    case PROP_CONNECTED:
      g_value_set_boolean (value, rabc_peer_get_connected (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
rabc_peer_class_init (RabcPeerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = rabc_peer_finalize;
  object_class->get_property = rabc_peer_get_property;

  /**
   * RabcPeer:pid:
   *
   * The process ID of the client, as it was when it connected. A process
   * may pass its socket to another, and a process ID may be reused once
   * the process is gone: use it for logs, not for decisions.
   */
  properties[PROP_PID] =
    g_param_spec_int ("pid", NULL, NULL,
                      0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcPeer:uid:
   *
   * The user ID of the client, as it was when it connected: the one the
   * kernel vouches for, which access decisions may rely on.
   */
  properties[PROP_UID] =
    g_param_spec_uint ("uid", NULL, NULL,
                       0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcPeer:gid:
   *
   * The primary group ID of the client, as it was when it connected.
   */
  properties[PROP_GID] =
    g_param_spec_uint ("gid", NULL, NULL,
                       0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcPeer:n-pending:
   *
   * The requests of this client that a
   * [signal@Rabc.Server::handle-request] handler took and that are not
   * answered yet. It counts against
   * [property@Rabc.Server:max-pending-requests], and is 0 once the client
   * is gone.
   */
  properties[PROP_N_PENDING] =
    g_param_spec_uint ("n-pending", NULL, NULL,
                       0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcPeer:connected:
   *
   * Whether the client is still connected. It turns `FALSE`, for good,
   * just before [signal@Rabc.Server::client-disconnected].
   */
  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
rabc_peer_init (RabcPeer *self)
{
  rabc_mutex_init (&self->lock);
}

RabcPeer *
rabc_peer_new (RabcServer   *server,
               gpointer      client,
               pid_t         pid,
               uid_t         uid,
               gid_t         gid,
               GMainContext *context,
               gsize         max_reply_size)
{
  RabcPeer *self = g_object_new (RABC_TYPE_PEER, NULL);

  self->server = server;
  self->client = client;
  self->pid = pid;
  self->uid = uid;
  self->gid = gid;
  self->context = g_main_context_ref (context);
  self->thread = g_thread_ref (g_thread_self ());
  self->max_reply_size = max_reply_size;
  self->connected = TRUE;
  rabc_tsan_publish (self);
  return self;
}

/* The client is gone: nothing the peer is asked for reaches the server
 * any more. */
void
rabc_peer_disconnect (RabcPeer *self)
{
  GMainContext *context;

  if (self->server == NULL)
    return;

  self->server = NULL;
  self->client = NULL;
  rabc_mutex_lock (&self->lock);
  context = g_steal_pointer (&self->context);
  rabc_mutex_unlock (&self->lock);
  g_main_context_unref (context);
  g_object_freeze_notify (G_OBJECT (self));
  rabc_peer_set_n_pending (self, 0);
  g_atomic_int_set (&self->connected, FALSE);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
  g_object_thaw_notify (G_OBJECT (self));
}

void
rabc_peer_set_n_pending (RabcPeer *self,
                         guint     n_pending)
{
  if ((guint) g_atomic_int_get (&self->n_pending) == n_pending)
    return;

  g_atomic_int_set (&self->n_pending, n_pending);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_PENDING]);
}

/* Replies to this peer must be shorter than this. */
gsize
rabc_peer_get_max_reply_size (RabcPeer *self)
{
  return self->max_reply_size;
}

static void
deliver (RabcPeer   *self,
         guint64     seq,
         const char *data,
         gsize       len,
         GBytes     *bytes)
{
  if (self->server != NULL)
    rabc_server_deliver (self->server, self->client, seq, data, len, bytes);
}

/* The server's context, or NULL once the client is gone. */
static GMainContext *
dup_context (RabcPeer *self)
{
  GMainContext *context;

  rabc_tsan_receive (self);
  rabc_mutex_lock (&self->lock);
  context = self->context != NULL ? g_main_context_ref (self->context) : NULL;
  rabc_mutex_unlock (&self->lock);
  return context;
}

/* Whether the caller may run the server's code at once: the server's
 * thread may, in a dispatch or between iterations.  Another thread must
 * not, even when it could acquire the context: the server is not
 * thread-safe. */
static gboolean
in_server_thread (RabcPeer *self)
{
  return self->thread == g_thread_self ();
}

/* Runs @func in the server's @context from an idle. */
static void
run_in_context (GMainContext   *context,
                const char     *name,
                GSourceFunc     func,
                gpointer        data,
                GDestroyNotify  notify)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (source, name);
  g_source_set_callback (source, func, data, notify);
  rabc_tsan_publish (data);
  g_source_attach (source, context);
  g_source_unref (source);
}

typedef struct {
  RabcPeer *peer;
  guint64   seq;
  GBytes   *reply;
} Answer;

static void
answer_free (gpointer data)
{
  Answer *answer = data;

  rabc_tsan_receive (answer);
  g_object_unref (answer->peer);
  g_clear_pointer (&answer->reply, g_bytes_unref);
  g_free (answer);
}

static gboolean
answer_in_context (gpointer data)
{
  Answer *answer = data;

  rabc_tsan_receive (answer);
  deliver (answer->peer, answer->seq, NULL, 0, answer->reply);
  return G_SOURCE_REMOVE;
}

void
rabc_peer_answer (RabcPeer   *self,
                  guint64     seq,
                  const char *data,
                  gsize       len,
                  GBytes     *bytes)
{
  g_autoptr(GMainContext) context = NULL;
  Answer *answer;

  /* In the server's thread, a handler answering at once for one: no copy,
   * no source, no lock. */
  if (in_server_thread (self))
    {
      deliver (self, seq, data, len, bytes);
      return;
    }

  /* Nobody to answer. */
  context = dup_context (self);
  if (context == NULL)
    return;

  answer = g_new0 (Answer, 1);
  answer->peer = g_object_ref (self);
  answer->seq = seq;
  if (bytes != NULL)
    answer->reply = g_bytes_ref (bytes);
  else if (data != NULL)
    answer->reply = g_bytes_new (data, len);
  run_in_context (context, "[rabc] answer", answer_in_context, answer, answer_free);
}

static gboolean
close_in_context (gpointer data)
{
  RabcPeer *self = data;

  rabc_tsan_receive (self);
  if (self->server != NULL)
    rabc_server_close_client (self->server, self->client);
  return G_SOURCE_REMOVE;
}

/**
 * rabc_peer_get_pid:
 * @self: a [class@Rabc.Peer]
 *
 * Gets the process ID of the client, as it was when it connected.
 *
 * Returns: the value of [property@Rabc.Peer:pid]
 */
int
rabc_peer_get_pid (RabcPeer *self)
{
  g_return_val_if_fail (RABC_IS_PEER (self), 0);

  return self->pid;
}

/**
 * rabc_peer_get_uid:
 * @self: a [class@Rabc.Peer]
 *
 * Gets the user ID of the client, as it was when it connected.
 *
 * Returns: the value of [property@Rabc.Peer:uid]
 */
guint
rabc_peer_get_uid (RabcPeer *self)
{
  g_return_val_if_fail (RABC_IS_PEER (self), 0);

  return self->uid;
}

/**
 * rabc_peer_get_gid:
 * @self: a [class@Rabc.Peer]
 *
 * Gets the primary group ID of the client, as it was when it connected.
 *
 * Returns: the value of [property@Rabc.Peer:gid]
 */
guint
rabc_peer_get_gid (RabcPeer *self)
{
  g_return_val_if_fail (RABC_IS_PEER (self), 0);

  return self->gid;
}

/**
 * rabc_peer_get_n_pending:
 * @self: a [class@Rabc.Peer]
 *
 * Gets how many requests of the client were taken and are not answered.
 *
 * Returns: the value of [property@Rabc.Peer:n-pending]
 */
guint
rabc_peer_get_n_pending (RabcPeer *self)
{
  g_return_val_if_fail (RABC_IS_PEER (self), 0);

  return g_atomic_int_get (&self->n_pending);
}

/**
 * rabc_peer_get_connected:
 * @self: a [class@Rabc.Peer]
 *
 * Gets whether the client is still connected.
 *
 * Returns: the value of [property@Rabc.Peer:connected]
 */
gboolean
rabc_peer_get_connected (RabcPeer *self)
{
  g_return_val_if_fail (RABC_IS_PEER (self), FALSE);

  return g_atomic_int_get (&self->connected);
}

/**
 * rabc_peer_close:
 * @self: a [class@Rabc.Peer]
 *
 * Disconnects the client, after writing what the server owes it as far as
 * that goes without blocking; requests taken and not answered are lost.
 * [signal@Rabc.Server::client-disconnected] follows, in the server's main
 * context. Closing a peer that is gone does nothing.
 *
 * May be called from any thread. In the server's thread, the client is
 * disconnected before this returns; from another thread, soon after, from
 * an idle in the server's context.
 */
void
rabc_peer_close (RabcPeer *self)
{
  g_autoptr(GMainContext) context = NULL;

  g_return_if_fail (RABC_IS_PEER (self));

  if (in_server_thread (self))
    {
      close_in_context (self);
      return;
    }

  context = dup_context (self);
  if (context != NULL)
    run_in_context (context, "[rabc] close", close_in_context, g_object_ref (self), g_object_unref);
}
