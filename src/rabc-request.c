/* rabc-request.c: one message a RabcServer received, to be answered
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <string.h>

#include "rabc-frame-private.h"
#include "rabc-lock-private.h"
#include "rabc-server-private.h"

/**
 * RabcRequest:
 *
 * One message a [class@Rabc.Server] received from one client, handed to
 * [signal@Rabc.Server::handle-request] so that the application answers it.
 *
 * A handler that takes the request (by returning `TRUE`) answers it once,
 * with [method@Rabc.Request.reply] or [method@Rabc.Request.reply_bytes],
 * at once or later: from a timeout, at the end of an asynchronous
 * operation, or from another thread, such as a [class@Gio.Task] worker.
 * The reply is written in the server's main context, and the replies of
 * one connection go out in the order of its requests, however they are
 * answered; the client, which matches replies to requests first in first
 * out, sees no difference.
 *
 * A request released without an answer is a bug: the server then answers
 * it with [property@Rabc.Server:reply], so that the client and the
 * requests behind it are not held up forever, and logs a warning. The
 * requests of a client that is gone need no answer.
 *
 * A request's getters and its reply methods may be called from any
 * thread.
 *
 * ```c
 * static gboolean
 * on_handle_request (RabcServer  *server,
 *                    RabcRequest *request,
 *                    gpointer     user_data)
 * {
 *   if (g_strcmp0 (rabc_request_get_message (request), "hostname") != 0)
 *     return FALSE;  // the server answers with its reply
 *
 *   rabc_request_reply (request, g_get_host_name ());
 *   return TRUE;
 * }
 *
 * g_signal_connect (server, "handle-request",
 *                   G_CALLBACK (on_handle_request), NULL);
 * ```
 *
 * ```python
 * def on_handle_request(server, request):
 *     if request.get_message() != 'slow':
 *         return False
 *     # Answer in a second; the request stays valid until then.
 *     GLib.timeout_add_seconds(1, lambda: request.reply('done') or False)
 *     return True
 *
 * server.connect('handle-request', on_handle_request)
 * ```
 */

struct _RabcRequest {
  GObject   parent_instance;

  RabcPeer *peer;
  guint64   seq;
  /* The message, with a NUL after it that @len does not count, in a
   * buffer of @allocated bytes that a kept request reuses. */
  char     *text;
  gsize     len;
  gsize     allocated;
  /* A copy of it, made the first time it is asked for. */
  GBytes   *payload;
  gboolean  answered;
};

G_DEFINE_FINAL_TYPE (RabcRequest, rabc_request, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_MESSAGE,
  PROP_PAYLOAD,
  PROP_PEER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];
static guint notify_signal;

/* The largest buffer a kept request keeps for the next message: a server
 * keeps at most one request for each client. */
#define RETIRED_BUFFER_SIZE 256

static void
rabc_request_finalize (GObject *object)
{
  RabcRequest *self = RABC_REQUEST (object);

  rabc_tsan_receive (self);
  /* A client that is gone needs no answer. */
  if (!g_atomic_int_get (&self->answered) && rabc_peer_get_connected (self->peer))
    {
      g_warning ("A request of %" G_GSIZE_FORMAT " bytes from pid %d was released without an "
                 "answer: a RabcServer::handle-request handler returned TRUE and never called "
                 "rabc_request_reply(); answering with the server's reply",
                 self->len, rabc_peer_get_pid (self->peer));
      rabc_peer_answer (self->peer, self->seq, NULL, 0, NULL);
    }

  g_clear_pointer (&self->payload, g_bytes_unref);
  g_clear_pointer (&self->text, g_free);
  g_clear_object (&self->peer);

  G_OBJECT_CLASS (rabc_request_parent_class)->finalize (object);
}

static void
rabc_request_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  RabcRequest *self = RABC_REQUEST (object);

  switch (prop_id)
    {
    case PROP_MESSAGE:
      g_value_set_string (value, rabc_request_get_message (self));
      break;
    case PROP_PAYLOAD:
      g_value_set_boxed (value, rabc_request_get_payload (self));
      break;
    case PROP_PEER:
      g_value_set_object (value, self->peer);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
rabc_request_class_init (RabcRequestClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = rabc_request_finalize;
  object_class->get_property = rabc_request_get_property;

  /**
   * RabcRequest:message:
   *
   * The text of the message, up to its first NUL character if it holds
   * one: see [property@Rabc.Request:payload] for all of it.
   */
  properties[PROP_MESSAGE] =
    g_param_spec_string ("message", NULL, NULL,
                         NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcRequest:payload:
   *
   * The whole message, valid UTF-8, NUL characters included.
   */
  properties[PROP_PAYLOAD] =
    g_param_spec_boxed ("payload", NULL, NULL,
                        G_TYPE_BYTES,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcRequest:peer:
   *
   * The client that sent the message.
   */
  properties[PROP_PEER] =
    g_param_spec_object ("peer", NULL, NULL,
                         RABC_TYPE_PEER,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
  notify_signal = g_signal_lookup ("notify", G_TYPE_OBJECT);
}

static void
rabc_request_init (RabcRequest *self)
{
}

/* Makes @self the request @seq of @peer, holding @text. */
static void
request_set (RabcRequest *self,
             RabcPeer    *peer,
             guint64      seq,
             const char  *text,
             gsize        len)
{
  if (self->allocated < len + 1)
    {
      g_free (self->text);
      self->text = g_malloc (len + 1);
      self->allocated = len + 1;
    }
  memcpy (self->text, text, len);
  self->text[len] = '\0';
  self->len = len;
  /* A kept request keeps its peer, as the next request often has it. */
  if (self->peer != peer)
    {
      g_clear_object (&self->peer);
      self->peer = g_object_ref (peer);
    }
  self->seq = seq;
  self->answered = FALSE;
  /* The handler may hand the request to another thread. */
  rabc_tsan_publish (self);
}

/* A new request, or @spare (see rabc_request_retire()) made into it. */
RabcRequest *
rabc_request_new (RabcRequest *spare,
                  RabcPeer    *peer,
                  guint64      seq,
                  const char  *text,
                  gsize        len)
{
  RabcRequest *self = spare != NULL ? spare : g_object_new (RABC_TYPE_REQUEST, NULL);

  request_set (self, peer, seq, text, len);
  return self;
}

static void
count_data (GQuark   key,
            gpointer data,
            gpointer user_data)
{
  (*(guint *) user_data)++;
}

/* Once the server is done with a request that is answered, and that
 * nothing else can reach (no other reference, no data, weak reference or
 * handler on it), the server may keep it to make the next one: making and
 * finalizing a GObject for every message is most of what a handler that
 * answers at once costs.  Nobody can tell the difference.
 *
 * Returns: whether @self is kept, emptied but for its peer, for
 *   rabc_request_new() */
gboolean
rabc_request_retire (RabcRequest *self)
{
  /* The server's own request: no checked cast. */
  GObject *object = (GObject *) self;
  guint n_data = 0;

  rabc_tsan_receive (self);
  if (g_atomic_int_get (&object->ref_count) != 1 || !g_atomic_int_get (&self->answered))
    return FALSE;
  g_datalist_foreach (&object->qdata, count_data, &n_data);
  /* Any handler, with a detail or not. */
  if (n_data > 0 ||
      g_signal_handler_find (self, G_SIGNAL_MATCH_ID, notify_signal, 0, NULL, NULL, NULL) != 0)
    return FALSE;

  g_clear_pointer (&self->payload, g_bytes_unref);
  /* A small buffer is kept for the next message, and the peer, which the
   * server lets go when its client does. */
  if (self->allocated > RETIRED_BUFFER_SIZE)
    {
      g_clear_pointer (&self->text, g_free);
      self->allocated = 0;
    }
  return TRUE;
}

gboolean
rabc_request_claim (RabcRequest *self)
{
  return g_atomic_int_compare_and_exchange (&self->answered, FALSE, TRUE);
}

gboolean
rabc_request_is_answered (RabcRequest *self)
{
  return g_atomic_int_get (&self->answered);
}

/**
 * rabc_request_get_message:
 * @self: a [class@Rabc.Request]
 *
 * Gets the text of the message, up to its first NUL character if it
 * holds one.
 *
 * Returns: the value of [property@Rabc.Request:message], valid as long as
 *   @self
 */
const char *
rabc_request_get_message (RabcRequest *self)
{
  g_return_val_if_fail (RABC_IS_REQUEST (self), NULL);
  /* The caller may drop its reference next, in any thread. */
  rabc_tsan_receive (self);
  rabc_tsan_publish (self);
  return self->text;
}

/**
 * rabc_request_get_payload:
 * @self: a [class@Rabc.Request]
 *
 * Gets the whole message, NUL characters included. The data is followed by
 * a NUL byte that its size does not count.
 *
 * Returns: (transfer none): the value of [property@Rabc.Request:payload]
 */
GBytes *
rabc_request_get_payload (RabcRequest *self)
{
  GBytes *payload;

  g_return_val_if_fail (RABC_IS_REQUEST (self), NULL);

  /* The caller may drop its reference next, in any thread. */
  rabc_tsan_receive (self);
  payload = g_atomic_pointer_get (&self->payload);
  if (payload == NULL)
    {
      /* With the NUL after it. */
      GBytes *copy = g_bytes_new_take (g_memdup2 (self->text, self->len + 1), self->len);

      /* Another thread may be making it too: the first one is kept. */
      if (!g_atomic_pointer_compare_and_exchange (&self->payload, NULL, copy))
        g_bytes_unref (copy);
      payload = g_atomic_pointer_get (&self->payload);
    }
  rabc_tsan_publish (self);
  return payload;
}

/**
 * rabc_request_get_peer:
 * @self: a [class@Rabc.Request]
 *
 * Gets the client that sent the message. It may be gone by now: see
 * [property@Rabc.Peer:connected].
 *
 * Returns: (transfer none): the value of [property@Rabc.Request:peer]
 */
RabcPeer *
rabc_request_get_peer (RabcRequest *self)
{
  g_return_val_if_fail (RABC_IS_REQUEST (self), NULL);
  /* The caller may drop its reference next, in any thread. */
  rabc_tsan_receive (self);
  rabc_tsan_publish (self);
  return self->peer;
}

/* Checks a reply in the caller's thread, so that a bad one is reported
 * where it was made. */
static gboolean
check_reply (RabcRequest *self,
             const char  *func,
             const char  *data,
             gsize        len)
{
  g_autoptr(GError) error = NULL;

  rabc_tsan_receive (self);
  if (!rabc_frame_check (data, len, rabc_peer_get_max_reply_size (self->peer), &error))
    {
      g_critical ("%s: cannot send the reply: %s", func, error->message);
      return FALSE;
    }

  if (!g_atomic_int_compare_and_exchange (&self->answered, FALSE, TRUE))
    {
      g_critical ("%s: the request is already answered: a request is answered once", func);
      return FALSE;
    }

  return TRUE;
}

/**
 * rabc_request_reply:
 * @self: a [class@Rabc.Request]
 * @reply: (nullable): the reply, valid UTF-8, or `NULL` for
 *   [property@Rabc.Server:reply]
 *
 * Answers the request with @reply. A request is answered once: answering
 * it again is a programming error, reported with a critical warning and
 * ignored, as is a reply that is not valid UTF-8 or that is not shorter
 * than the [property@Rabc.Server:max-message-size] the client connected
 * under (a request with such a reply stays unanswered).
 *
 * May be called from any thread; the reply is written in the server's main
 * context, after the replies to the client's earlier requests. When the
 * client is gone, the reply is dropped.
 */
void
rabc_request_reply (RabcRequest *self,
                    const char  *reply)
{
  g_return_if_fail (RABC_IS_REQUEST (self));

  if (reply == NULL)
    {
      if (check_reply (self, G_STRFUNC, "", 0))
        rabc_peer_answer (self->peer, self->seq, NULL, 0, NULL);
    }
  else
    {
      gsize len = strlen (reply);

      if (check_reply (self, G_STRFUNC, reply, len))
        rabc_peer_answer (self->peer, self->seq, reply, len, NULL);
    }

  /* The caller may drop its reference next, in any thread. */
  rabc_tsan_publish (self);
}

/**
 * rabc_request_reply_bytes:
 * @self: a [class@Rabc.Request]
 * @reply: the reply, valid UTF-8, NUL characters allowed
 *
 * Answers the request with @reply, as [method@Rabc.Request.reply] does,
 * but taking the bytes as they are, so that a reply may hold U+0000. The
 * request keeps a reference to @reply until it is written.
 */
void
rabc_request_reply_bytes (RabcRequest *self,
                          GBytes      *reply)
{
  gsize len;
  const char *data;

  g_return_if_fail (RABC_IS_REQUEST (self));
  g_return_if_fail (reply != NULL);

  data = g_bytes_get_data (reply, &len);
  if (check_reply (self, G_STRFUNC, data != NULL ? data : "", len))
    rabc_peer_answer (self->peer, self->seq, NULL, 0, reply);

  /* The caller may drop its reference next, in any thread. */
  rabc_tsan_publish (self);
}
