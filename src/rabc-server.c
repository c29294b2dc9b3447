/* rabc-server.c: the rabc daemon as a class
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rabc-connection-private.h"
#include "rabc-deadline-source-private.h"
#include "rabc-defaults.h"
#include "rabc-error.h"
#include "rabc-fd-source-private.h"
#include "rabc-frame-private.h"
#include "rabc-lock-private.h"
#include "rabc-marshal.h"
#include "rabc-peer-table-private.h"
#include "rabc-rate-limit-private.h"
#include "rabc-reply-queue-private.h"
#include "rabc-server-private.h"
#include "rabc-single-wait-private.h"
#include "rabc-socket-file-private.h"
#include "rabc-socket-private.h"

/**
 * RabcServer:
 *
 * A server of the rabc protocol: it listens on a Unix socket and answers
 * every message of every client, in order.
 *
 * Each message is handed to [signal@Rabc.Server::handle-request] as a
 * [class@Rabc.Request]: a handler that returns `TRUE` takes it, and
 * answers it with [method@Rabc.Request.reply], at once or later, from any
 * thread. A message no handler takes is answered with
 * [property@Rabc.Server:reply], which is all a server without handlers
 * does. Replies go out in the order of the requests on each connection,
 * however they are answered, so that clients can send many requests
 * before reading the replies. Each client is a [class@Rabc.Peer], with the
 * credentials it connected with.
 *
 * ```c
 * static gboolean
 * on_handle_request (RabcServer  *server,
 *                    RabcRequest *request,
 *                    gpointer     user_data)
 * {
 *   const char *message = rabc_request_get_message (request);
 *   g_autofree char *reply = g_utf8_strup (message, -1);
 *
 *   rabc_request_reply (request, reply);
 *   return TRUE;
 * }
 *
 * int
 * main (void)
 * {
 *   g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
 *   g_autoptr(RabcServer) server = rabc_server_new ("/run/example.sock");
 *   g_autoptr(GError) error = NULL;
 *
 *   g_signal_connect (server, "handle-request",
 *                     G_CALLBACK (on_handle_request), NULL);
 *   if (!rabc_server_start (server, &error))
 *     g_error ("%s", error->message);
 *   g_main_loop_run (loop);
 *   return 0;
 * }
 * ```
 *
 * ```python
 * from gi.repository import GLib, Rabc
 *
 * def on_handle_request(server, request):
 *     request.reply(request.get_message().upper())
 *     return True
 *
 * server = Rabc.Server.new('/run/example.sock')
 * server.connect('handle-request', on_handle_request)
 * server.start()
 * GLib.MainLoop().run()
 * ```
 *
 * [method@Rabc.Server.start] binds the socket and serves on the
 * thread-default main context of the caller, until
 * [method@Rabc.Server.stop]. Any number of clients are served at once
 * through one epoll descriptor, so a slow, silent or misbehaving client
 * never delays the others; a client that breaks the protocol is
 * disconnected with a log message.
 *
 * No client can make the server spend more than a bounded share of its
 * memory, descriptors or time, with limits modelled on those of
 * dbus-daemon's system bus: [property@Rabc.Server:max-clients] and
 * [property@Rabc.Server:max-clients-per-uid], lowered to what the
 * descriptor limit allows; [property@Rabc.Server:max-buffered-bytes] over
 * all clients; [property@Rabc.Server:frame-timeout] for a client stuck in
 * the middle of a frame; [property@Rabc.Server:max-pending-requests] for
 * the requests of one client that wait for an answer. Each round reads at
 * most 64 KiB between frames, shared among the clients ready in it and at
 * least 512 bytes each, so that a client pipelining requests as fast as it
 * can has at most 82 of them answered before the others' turn once a
 * hundred are ready; the rest of long messages comes
 * from a pool of 1 MiB per round, at most 128 KiB to each client, which
 * the clients in the middle of a message take in turns, the one that
 * waited longest first. A client whose last message needed the pool
 * takes its turn for it between messages too: it is not read while the
 * pool could not finish a message as long. Messages of up to 128 KiB are
 * received whole into one buffer of 128 KiB that the server reads all its
 * clients into, and cost no memory of the client's own. Each kind of log
 * message a client can cause appears at most ten times in any ten
 * seconds, followed by a line counting the others.
 *
 * The server is careful with the socket file: it holds a lock file beside
 * it, refuses to start while another server holds that lock or answers on
 * the path, replaces a stale socket file left by a server that is gone,
 * never removes anything that is not a socket, and removes its own socket
 * file and lock file when it stops.
 */

typedef enum {
  LOG_REFUSED,
  LOG_PROTOCOL,
  LOG_DROPPED,
  LOG_ACCEPT,
  N_LOG_KINDS
} LogKind;

static const char *const log_kind_names[N_LOG_KINDS] = {
  "messages about refused connections",
  "messages about clients that broke the protocol",
  "messages about clients dropped for what they held",
  "messages about failures to accept a connection",
};

/* Each kind of message a peer can cause is logged at most LOG_BURST times
 * in any LOG_INTERVAL; a summary line then says how many were not. */
#define LOG_INTERVAL (10 * G_USEC_PER_SEC)
#define LOG_BURST 10

struct _RabcServer {
  GObject         parent_instance;

  char           *socket_path;
  char           *reply;
  GByteArray     *reply_frame;
  guint           max_message_size;
  guint           socket_mode;
  guint           max_clients;
  guint           max_clients_per_uid;
  guint64         max_buffered_bytes;
  guint           frame_timeout;
  guint           max_pending_requests;

  /* The connection limits in effect: the properties, lowered to what the
   * descriptor limit allows. */
  guint           limit_clients;
  guint           limit_clients_per_uid;

  GMainContext   *context;
  int             listen_fd;
  /* NULL when the socket came from a service manager, which owns the file. */
  RabcSocketFile *socket_file;
  int             epoll_fd;
  GSource        *epoll_source;
  /* rabcd's: its main context waits in the epoll set (rabc-single-wait.c). */
  RabcSingleWait *single_wait;
  GSource        *accept_retry_source;
  gboolean        accept_paused;
  GSource        *stall_source;
  /* Checks the memory budget after replies were answered outside I/O. */
  GSource        *budget_source;
  GSource        *log_source;
  RabcRateLimit   log_limits[N_LOG_KINDS];

  GArray         *allowed_uids;

  /* Every Client, and what they hold. */
  RabcPeerTable   peers;
  /* Clients dropped during a dispatch, freed after it: the epoll events
   * being handled may still point at them. */
  GPtrArray      *dropped;
  guint           dispatch_depth;
  /* Stopping from dispose: nobody may be told anything any more. */
  gboolean        quiet;
  /* Whether ::handle-request has handlers: looked up at the start of each
   * round and again whenever application code ran since (see
   * check_handlers()), not for every message. */
  gboolean        handling;
  /* What the clients are read into, shared: see client_handle_io().
   * Busy while a read into it is being decoded, when a client read from
   * a handler meanwhile reads into memory of its own. */
  guint8         *read_buffer;
  gboolean        read_buffer_busy;
  /* Rounds that read clients, counted: one or more in each dispatch of
   * the epoll source. */
  guint64         round;
  /* Since the epoll source's last dispatch, application code ran, or the
   * server attached a source or moved a timer (see
   * mark_main_loop_needed()). */
  gboolean        main_loop_needed;
};

/* One connected client. */
typedef struct {
  RabcPeerEntry   entry;
  RabcServer     *server;
  RabcConnection *conn;
  gid_t           gid;
  /* The max-message-size it connected under. */
  gsize           max_message_size;
  /* Made when first needed (a signal handler, a request, a list of the
   * peers), so that a server without handlers spends nothing on it. */
  RabcPeer       *peer;
  /* An answered request kept to make its next one (see
   * rabc_request_retire()): its peer is this client's already. */
  RabcRequest    *spare_request;
  /* The requests received and not answered yet, or answered and waiting
   * behind one that is not. */
  RabcReplyQueue  replies;
  /* Being read or written: what it holds is accounted for afterwards. */
  gboolean        in_io;
  /* The request being handled was answered before its handler returned
   * (see handle_request()). */
  gboolean        answered_in_handler;
  /* Messages received while the output was full, not handed to the
   * handlers yet (GBytes), and their size. */
  GQueue          deferred;
  gsize           deferred_bytes;
  /* The last round it was read in, and the last it was ready in, with
   * what it was ready for. */
  guint64         read_round;
  guint64         ready_round;
  GIOCondition    ready;
  /* What its last read took when that was more than its share between
   * frames, the rest of a frame from the round's pool; else 0.  Between
   * frames such a client waits for its turn for the pool too (see
   * run_round()). */
  gsize           long_read;
} Client;

G_DEFINE_FINAL_TYPE (RabcServer, rabc_server, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_SOCKET_PATH,
  PROP_REPLY,
  PROP_MAX_MESSAGE_SIZE,
  PROP_SOCKET_MODE,
  PROP_N_CLIENTS,
  PROP_LISTENING,
  PROP_MAX_CLIENTS,
  PROP_MAX_CLIENTS_PER_UID,
  PROP_MAX_BUFFERED_BYTES,
  PROP_FRAME_TIMEOUT,
  PROP_MAX_PENDING_REQUESTS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  CLIENT_CONNECTED,
  CLIENT_DISCONNECTED,
  MESSAGE_RECEIVED,
  HANDLE_REQUEST,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

#define MAX_EVENTS_PER_DISPATCH 256
#define MAX_ACCEPTS_PER_DISPATCH 64
#define ACCEPT_RETRY_MS 100
/* What one round reads between frames, shared among the clients ready in
 * it, and the least share: one ready client alone is read 64 KiB at a
 * time, a hundred 655 bytes each, so that at most 82 messages of each are
 * answered before the others' turn; a client beside them waits about one
 * round.  The rest of a frame comes from the round's pool of ROUND_BYTES,
 * at most MAX_READ_BUDGET to each client, and the clients in the middle
 * of a frame take it in turns, the one that waited longest first, with
 * those between frames after one that took from the pool: each round
 * finishes at least eight of their frames, and a hundred clients sending
 * 64 KiB each have sixteen of them answered a round. */
#define ROUND_READ (64 * 1024)
#define MIN_READ_SHARE 512
#define ROUND_BYTES (1024 * 1024)
#define MAX_READ_BUDGET (128 * 1024)
/* A new round's pool reads any client's frame that fits in the buffer
 * whole, so the client that waited longest is read. */
G_STATIC_ASSERT (ROUND_BYTES >= MAX_READ_BUDGET);
/* The clients are read into one buffer, where a frame of up to this much
 * is received whole and answered where it lies (see
 * rabc_connection_handle_io_into()): the buffer stays in the processor's
 * cache, and such frames cost no memory of the client's own. */
#define READ_BUFFER_SIZE (RABC_FRAME_HEADER_SIZE + MAX_READ_BUDGET)
/* The read buffer starts half a page past a page boundary.  The kernel
 * holds a long message in pages of its own, starting at the start of a
 * page, and the processor copies it out much slower into an address a
 * few bytes past that within a page: with 64 KiB requests from 100
 * clients, rabcd answered half as many a second at an offset of 0, and
 * 10 to 20% fewer at 16, where malloc() puts a block this large, as at
 * 2048. */
#define READ_BUFFER_PAGE 4096
#define READ_BUFFER_OFFSET 2048
/* The replies to one read stay within this much, or one reply when the
 * reply is longer: a read of N bytes holds at most N / 8 + 1 messages. */
#define REPLIES_PER_READ (128 * 1024)
/* A client is not read while this much output waits for it: enough for a
 * client that sends many requests before it reads, bounded for one that
 * never reads. */
#define OUTPUT_LIMIT (1024 * 1024)
/* Descriptors kept free of clients: for refusing a connection beyond the
 * limits, the lock file, GLib's own and the log's. */
#define RESERVED_DESCRIPTORS 16
/* A drain at stop goes round a client at most this many times: 512 KiB,
 * more than a socket holds. */
#define MAX_DRAIN_ROUNDS 8
/* The reply when none is set, or NULL is. */
#define DEFAULT_REPLY "pong"

static void resume_accepting (RabcServer *self);
static void check_handlers (RabcServer *self);
static void client_dispatch_deferred (RabcServer *self,
                                      Client     *client);

/* --- rate-limited log messages ------------------------------------------ */

static void
flush_log_summaries (RabcServer *self,
                     gint64      now)
{
  gint64 next = -1;

  for (guint kind = 0; kind < N_LOG_KINDS; kind++)
    {
      RabcRateLimit *limit = &self->log_limits[kind];
      gint64 end = rabc_rate_limit_get_next_allowed (limit);

      if (limit->n_suppressed == 0)
        continue;
      if (now >= end)
        g_message ("%u more %s were not logged: at most %d are in %d s",
                   rabc_rate_limit_take_suppressed (limit), log_kind_names[kind],
                   LOG_BURST, (int) (LOG_INTERVAL / G_USEC_PER_SEC));
      else if (next < 0 || end < next)
        next = end;
    }

  if (self->log_source != NULL)
    g_source_set_ready_time (self->log_source, next);
}

static gboolean
on_log_summary (gpointer user_data)
{
  RabcServer *self = user_data;

  flush_log_summaries (self, g_source_get_time (self->log_source));
  return G_SOURCE_CONTINUE;
}

/* Application code is about to run (a signal's handlers, a log handler),
 * or the server attaches a source or moves a timer: any of these may leave
 * the main context work that GLib finds only when its iteration comes
 * round, such as a source attached from this thread, which does not wake
 * it.  So the dispatch of the epoll source returns to GLib before another
 * round (see rabc_single_wait_again()). */
static void
mark_main_loop_needed (RabcServer *self)
{
  self->main_loop_needed = TRUE;
}

/* Logs a message a peer caused, within the rate limit of its kind. */
G_GNUC_PRINTF (3, 4)
static void
server_log (RabcServer *self,
            LogKind     kind,
            const char *format,
            ...)
{
  RabcRateLimit *limit = &self->log_limits[kind];
  g_autofree char *text = NULL;
  guint suppressed = 0;
  va_list args;

  mark_main_loop_needed (self);
  if (!rabc_rate_limit_allow (limit, g_get_monotonic_time (), &suppressed))
    {
      /* The first one held back: report the count when the next one could
       * be logged, unless one is by then. */
      if (limit->n_suppressed == 1 && self->log_source != NULL &&
          g_source_get_ready_time (self->log_source) < 0)
        g_source_set_ready_time (self->log_source, rabc_rate_limit_get_next_allowed (limit));
      return;
    }

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  if (suppressed > 0)
    g_message ("%s (%u more %s were not logged before it)", text, suppressed,
               log_kind_names[kind]);
  else
    g_message ("%s", text);
}

/* --- clients ------------------------------------------------------------ */

static void
client_clear_deferred (Client *client)
{
  g_queue_clear_full (&client->deferred, (GDestroyNotify) g_bytes_unref);
  client->deferred_bytes = 0;
}

static void
client_free (Client *client)
{
  rabc_reply_queue_clear (&client->replies);
  client_clear_deferred (client);
  g_clear_object (&client->spare_request);
  if (client->peer != NULL)
    {
      /* Its last reference may go in another thread. */
      rabc_tsan_publish (client->peer);
      g_object_unref (client->peer);
    }
  rabc_connection_unref (client->conn);
  g_free (client);
}

/* The peer of @client, made now if it has none yet; a client that is gone
 * gets one that is disconnected. */
static RabcPeer *
client_get_peer (RabcServer *self,
                 Client     *client)
{
  if (client->peer == NULL)
    {
      client->peer = rabc_peer_new (self, client, client->entry.pid, client->entry.uid,
                                    client->gid, self->context,
                                    client->max_message_size);
      if (!rabc_peer_table_contains (&client->entry))
        rabc_peer_disconnect (client->peer);
    }
  return client->peer;
}

/* Clients dropped between these are freed at the end, once nothing that
 * runs meanwhile can still point at them. */
static void
begin_dispatch (RabcServer *self)
{
  self->dispatch_depth++;
}

static void
end_dispatch (RabcServer *self)
{
  if (--self->dispatch_depth == 0)
    g_ptr_array_set_size (self->dropped, 0);
}

static void
drop_client (RabcServer *self,
             Client     *client,
             gboolean    emit)
{
  int fd = rabc_connection_get_fd (client->conn);
  g_autoptr(RabcPeer) peer = NULL;

  if (!rabc_peer_table_contains (&client->entry))
    return;

  mark_main_loop_needed (self);
  rabc_peer_table_remove (&self->peers, &client->entry);
  rabc_single_wait_forget (self->single_wait);
  if (fd >= 0)
    epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
  rabc_connection_close (client->conn);
  rabc_reply_queue_clear (&client->replies);
  client_clear_deferred (client);

  /* The peer outlives the client for the signal, and as long as the
   * application holds it, but not in a request kept for reuse. */
  g_clear_object (&client->spare_request);
  if (client->peer != NULL)
    rabc_peer_disconnect (client->peer);
  if (emit && g_signal_has_handler_pending (self, signals[CLIENT_DISCONNECTED], 0, TRUE))
    peer = g_object_ref (client_get_peer (self, client));
  if (self->dispatch_depth > 0)
    g_ptr_array_add (self->dropped, client);
  else
    client_free (client);

  if (self->accept_paused)
    resume_accepting (self);

  if (emit)
    {
      /* A handler may drop the last reference. */
      g_object_ref (self);
      if (peer != NULL)
        g_signal_emit (self, signals[CLIENT_DISCONNECTED], 0, peer);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CLIENTS]);
      check_handlers (self);
      g_object_unref (self);
    }
}

static gboolean client_update (RabcServer *self,
                               Client     *client,
                               gint64      now);

/* Past the memory budget: drop the largest holders among the users holding
 * the most, so that everybody under their share keeps it. */
static void
enforce_budget (RabcServer *self)
{
  while (self->peers.allocated > self->max_buffered_bytes)
    {
      RabcPeerEntry *entry = rabc_peer_table_find_largest (&self->peers);

      if (entry == NULL)
        return;
      mark_main_loop_needed (self);

      /* A buffer kept for a client's next long message goes first. */
      if (rabc_connection_release_buffers (((Client *) entry->data)->conn))
        {
          g_debug ("over budget: giving back the buffer kept for the next long message of a "
                   "client holding %" G_GSIZE_FORMAT " bytes (pid %d, uid %u)",
                   entry->allocated, (int) entry->pid, (guint) entry->uid);
          client_update (self, entry->data, g_get_monotonic_time ());
          continue;
        }

      server_log (self, LOG_DROPPED,
                  "disconnecting a client holding %" G_GSIZE_FORMAT " bytes: clients hold "
                  "%" G_GSIZE_FORMAT " bytes in all, more than the %" G_GUINT64_FORMAT
                  " of max-buffered-bytes (pid %d, uid %u)",
                  entry->allocated, self->peers.allocated, self->max_buffered_bytes,
                  (int) entry->pid, (guint) entry->uid);
      drop_client (self, entry->data, !self->quiet);
    }
}

static void
arm_stall_timer (RabcServer *self)
{
  RabcPeerEntry *entry = rabc_peer_table_peek_mid_frame (&self->peers);
  gint64 ready_time = -1;

  if (self->stall_source == NULL)
    return;

  if (entry != NULL && self->frame_timeout != 0)
    ready_time = entry->last_progress + (gint64) self->frame_timeout * 1000;
  if (ready_time != g_source_get_ready_time (self->stall_source))
    {
      mark_main_loop_needed (self);
      g_source_set_ready_time (self->stall_source, ready_time);
    }
}

/* Records what @client holds, without enforcing the bounds.
 *
 * Returns: whether the clients hold more than the budget */
static gboolean
client_update (RabcServer *self,
               Client     *client,
               gint64      now)
{
  RabcConnection *conn = client->conn;

  if (rabc_connection_is_closed (conn))
    return FALSE;

  rabc_peer_table_update (&self->peers, &client->entry,
                          rabc_connection_get_allocated (conn) +
                          rabc_reply_queue_get_held (&client->replies) + client->deferred_bytes,
                          rabc_connection_get_bytes_moved (conn),
                          rabc_connection_is_mid_frame (conn),
                          now);

  /* Progress only ever moves a deadline later: arming the timer for the
   * first one and re-arming it when it fires is enough. */
  if (client->entry.mid_frame && self->stall_source != NULL &&
      g_source_get_ready_time (self->stall_source) < 0)
    arm_stall_timer (self);

  return self->peers.allocated > self->max_buffered_bytes;
}

/* Records what @client holds after some I/O, and enforces the bounds. */
static void
client_account (RabcServer *self,
                Client     *client,
                gint64      now)
{
  if (client_update (self, client, now))
    enforce_budget (self);
}

static gboolean
on_budget_check (gpointer user_data)
{
  g_autoptr(RabcServer) self = g_object_ref (user_data);

  g_source_set_ready_time (self->budget_source, -1);
  begin_dispatch (self);
  enforce_budget (self);
  end_dispatch (self);
  return G_SOURCE_CONTINUE;
}

/* Looks up whether ::handle-request has handlers: at the start of a round,
 * and after any signal the application may have connected one from.  The
 * signal's own handlers need no second look: one that disconnects the
 * last of them only makes the next emission find none. */
static void
check_handlers (RabcServer *self)
{
  self->handling = !self->quiet &&
                   g_signal_has_handler_pending (self, signals[HANDLE_REQUEST], 0, FALSE);
}

/* What one read takes between frames from each of @n_readers clients
 * ready to be read in a round. */
static gsize
round_read_size (RabcServer *self,
                 guint       n_readers)
{
  gsize replies = MAX (1, REPLIES_PER_READ / self->reply_frame->len);

  n_readers = MAX (n_readers, 1);
  check_handlers (self);
  return MIN (MAX (MIN_READ_SHARE, ROUND_READ / n_readers),
              MAX (RABC_FRAME_HEADER_SIZE, RABC_FRAME_HEADER_SIZE * (replies - 1)));
}

/* What a client may read in a turn: @read_size between frames, and what
 * is left of the round's @pool for a frame's rest, at most
 * MAX_READ_BUDGET. */
static gsize
turn_budget (gsize read_size,
             gsize pool)
{
  return read_size + MIN (pool, MAX_READ_BUDGET);
}

/* Handles readiness of @client, reading @read_size bytes between frames
 * and up to @pool bytes more of a frame's rest (see turn_budget());
 * @now is the time of the round.
 *
 * Returns: the bytes read */
static gsize
client_handle_io (RabcServer   *self,
                  Client       *client,
                  GIOCondition  condition,
                  gsize         read_size,
                  gsize         pool,
                  gint64        now)
{
  gsize budget = turn_budget (read_size, pool);
  guint64 received = rabc_connection_get_bytes_received (client->conn);
  guint waiting = rabc_reply_queue_get_length (&client->replies);

  /* A handler may take requests, which then wait: a read of N bytes
   * between frames ends at most N / 8 messages, the frame it leaves
   * unfinished included, and the rest of a frame is read alone, so the
   * requests waiting stay within max-pending-requests. */
  if (self->handling || waiting > 0)
    read_size = MIN (read_size, RABC_FRAME_HEADER_SIZE *
                                (gsize) MAX (1, self->max_pending_requests -
                                                MIN (waiting, self->max_pending_requests)));

  rabc_connection_set_read_policy (client->conn, read_size, budget, OUTPUT_LIMIT);
  client->in_io = TRUE;
  if (!self->read_buffer_busy)
    {
      if (self->read_buffer == NULL)
        self->read_buffer = (guint8 *) g_aligned_alloc (1, READ_BUFFER_OFFSET + READ_BUFFER_SIZE,
                                                        READ_BUFFER_PAGE) + READ_BUFFER_OFFSET;
      self->read_buffer_busy = TRUE;
      rabc_connection_handle_io_into (client->conn, condition, self->read_buffer,
                                      READ_BUFFER_SIZE);
      self->read_buffer_busy = FALSE;
    }
  else
    rabc_connection_handle_io (client->conn, condition);
  client->in_io = FALSE;
  received = rabc_connection_get_bytes_received (client->conn) - received;
  if (client->deferred.length > 0)
    client_dispatch_deferred (self, client);
  client_account (self, client, now);
  return received;
}

static gboolean
on_stall_timer (gpointer user_data)
{
  /* A handler of ::client-disconnected may drop the last reference, or
   * stop the server, which destroys this source. */
  g_autoptr(RabcServer) self = g_object_ref (user_data);
  gint64 since = g_source_get_time (self->stall_source) - (gint64) self->frame_timeout * 1000;
  RabcPeerEntry *entry;

  while (self->frame_timeout > 0 && self->stall_source != NULL &&
         (entry = rabc_peer_table_get_stalled_since (&self->peers, since)) != NULL)
    {
      Client *client = entry->data;

      if (rabc_connection_get_queued (client->conn) > 0)
        server_log (self, LOG_DROPPED,
                    "disconnecting a client that has not read its replies for %u ms "
                    "(pid %d, uid %u)",
                    self->frame_timeout, (int) entry->pid, (guint) entry->uid);
      else
        server_log (self, LOG_DROPPED,
                    "disconnecting a client that stopped in the middle of a message "
                    "for %u ms (pid %d, uid %u)",
                    self->frame_timeout, (int) entry->pid, (guint) entry->uid);
      drop_client (self, client, TRUE);
    }

  if (self->stall_source != NULL)
    arm_stall_timer (self);
  return G_SOURCE_CONTINUE;
}

/* What the replies waiting for @client imply: whether it may be read, and
 * what its peer has pending. */
static void
client_replies_changed (RabcServer *self,
                        Client     *client)
{
  guint waiting = rabc_reply_queue_get_length (&client->replies);

  rabc_connection_set_owed (client->conn, waiting + client->deferred.length);
  rabc_connection_set_paused (client->conn, waiting >= self->max_pending_requests ||
                                            client->deferred.length > 0);
  /* Requests are only taken through a request, which has the peer. */
  if (client->peer != NULL)
    rabc_peer_set_n_pending (client->peer, rabc_reply_queue_get_n_taken (&client->replies));
}

/* Queues a reply to @client: @bytes, else @data, else the server's. */
static gboolean
queue_reply (RabcServer *self,
             Client     *client,
             const char *data,
             gsize       len,
             GBytes     *bytes)
{
  if (bytes != NULL)
    {
      data = g_bytes_get_data (bytes, &len);
      return rabc_connection_queue_checked (client->conn, data != NULL ? data : "", len);
    }
  if (data != NULL)
    return rabc_connection_queue_checked (client->conn, data, len);
  return rabc_connection_queue_frames (client->conn, self->reply_frame->data,
                                       self->reply_frame->len);
}

/* Answers request @seq of @client (see rabc_peer_answer()), and queues
 * every reply that may go out now. */
static void
deliver (RabcServer *self,
         Client     *client,
         guint64     seq,
         const char *data,
         gsize       len,
         GBytes     *bytes)
{
  RabcReplyQueue *replies = &client->replies;
  GBytes *reply;

  /* The request being handled, which has no slot yet. */
  if (seq == rabc_reply_queue_get_next_seq (replies))
    {
      client->answered_in_handler = TRUE;
      /* With nothing before it, as when a handler answers every request
       * at once: straight into the output, without a slot or a copy. */
      if (rabc_reply_queue_get_length (replies) == 0)
        {
          queue_reply (self, client, data, len, bytes);
          return;
        }
      rabc_reply_queue_push (replies, 0);
    }

  if (rabc_reply_queue_is_front (replies, seq))
    {
      /* Next to go out: straight into the output, without a copy. */
      if (!rabc_reply_queue_answer (replies, seq, NULL) || !rabc_reply_queue_pop (replies, &reply))
        return;
      if (!queue_reply (self, client, data, len, bytes))
        return;
    }
  else
    {
      g_autoptr(GBytes) owned = bytes != NULL ? g_bytes_ref (bytes)
                              : data != NULL ? g_bytes_new (data, len) : NULL;

      if (!rabc_reply_queue_answer (replies, seq, owned))
        return;
    }

  while (rabc_reply_queue_pop (replies, &reply))
    {
      gboolean queued = queue_reply (self, client, NULL, 0, reply);

      g_clear_pointer (&reply, g_bytes_unref);
      if (!queued)
        return;
    }

  client_replies_changed (self, client);
}

void
rabc_server_deliver (RabcServer *self,
                     gpointer    client_data,
                     guint64     seq,
                     const char *data,
                     gsize       len,
                     GBytes     *bytes)
{
  Client *client = client_data;
  /* A handler of what this emits may drop the last reference; in the
   * client's own I/O, the server's dispatch holds one already. */
  G_GNUC_UNUSED g_autoptr(RabcServer) keep = client->in_io ? NULL : g_object_ref (self);

  begin_dispatch (self);
  deliver (self, client, seq, data, len, bytes);
  if (!client->in_io && !rabc_connection_is_closed (client->conn))
    {
      /* Outside this client's I/O: written at its next, which this asks
       * for, and the budget is checked from the main loop rather than
       * from inside the caller. */
      rabc_connection_schedule_flush (client->conn);
      if (client_update (self, client, g_get_monotonic_time ()) && self->budget_source != NULL)
        {
          mark_main_loop_needed (self);
          g_source_set_ready_time (self->budget_source, 0);
        }
    }
  end_dispatch (self);
}

void
rabc_server_close_client (RabcServer *self,
                          gpointer    client_data)
{
  /* A handler of ::client-disconnected may drop the last reference. */
  G_GNUC_UNUSED g_autoptr(RabcServer) keep = g_object_ref (self);
  Client *client = client_data;

  begin_dispatch (self);
  /* What is owed goes first, as far as it goes without waiting. */
  if (rabc_connection_flush (client->conn))
    drop_client (self, client, !self->quiet);
  end_dispatch (self);
}

/* Hands a message to ::handle-request.
 *
 * Returns: FALSE to stop reading */
static gboolean
handle_request (RabcServer *self,
                Client     *client,
                const char *text,
                gsize       len)
{
  g_autoptr(RabcRequest) request = NULL;
  RabcReplyQueue *replies = &client->replies;
  /* Its slot is made once the handlers have run, if they did not answer:
   * a request answered at once needs none. */
  guint64 seq = rabc_reply_queue_get_next_seq (replies);
  gboolean handled = FALSE;

  request = rabc_request_new (g_steal_pointer (&client->spare_request), client_get_peer (self, client),
                              seq, text, len);
  client->answered_in_handler = FALSE;
  mark_main_loop_needed (self);
  g_signal_emit (self, signals[HANDLE_REQUEST], 0, request, &handled);

  if (client->answered_in_handler || rabc_connection_is_closed (client->conn))
    {
      /* Nothing more to do: answered, or nobody to answer. */
      if (!handled)
        rabc_request_claim (request);
    }
  else if (!handled && rabc_request_claim (request))
    {
      /* Nobody took it: the server's reply. */
      deliver (self, client, seq, NULL, 0, NULL);
    }
  else
    {
      /* Taken, or answered from another thread, whose answer is on its
       * way. */
      rabc_reply_queue_push (replies, len);
      if (!rabc_request_is_answered (request))
        rabc_reply_queue_take (replies, seq);
      client_replies_changed (self, client);
    }

  /* A request whose client is gone is not kept: it would keep the peer. */
  if (client->spare_request == NULL && !rabc_connection_is_closed (client->conn) &&
      rabc_request_retire (request))
    client->spare_request = g_steal_pointer (&request);
  else
    /* Its last reference may go in another thread. */
    rabc_tsan_publish (request);
  return !rabc_connection_is_closed (client->conn);
}

/* Answers the message just received with the server's reply, in its turn. */
static gboolean
answer_fixed (RabcServer *self,
              Client     *client)
{
  RabcConnection *conn = client->conn;
  guint64 seq;

  if (rabc_reply_queue_get_length (&client->replies) == 0)
    return rabc_connection_queue_frames (conn, self->reply_frame->data, self->reply_frame->len);

  /* Behind a request still to be answered: the server's reply waits its
   * turn. */
  seq = rabc_reply_queue_push (&client->replies, 0);
  rabc_reply_queue_answer (&client->replies, seq, NULL);
  client_replies_changed (self, client);
  return TRUE;
}

static gboolean
on_message (RabcConnection *conn,
            const char     *text,
            gsize           len,
            gpointer        user_data)
{
  Client *client = user_data;
  RabcServer *self = client->server;

  if (!self->quiet && g_signal_has_handler_pending (self, signals[MESSAGE_RECEIVED], 0, FALSE))
    {
      g_autofree char *message = g_strndup (text, len);

      mark_main_loop_needed (self);
      g_signal_emit (self, signals[MESSAGE_RECEIVED], 0, message);
      check_handlers (self);
      if (rabc_connection_is_closed (conn))
        return FALSE;
    }

  if (self->handling && !self->quiet)
    {
      /* Handlers may answer at once with long replies: once 1 MiB waits
       * for the client, the rest of this read waits, as the fixed reply's
       * reads are cut short, so that a read of small requests cannot make
       * the server hold their many long replies. */
      if (client->deferred.length > 0 || rabc_connection_get_queued (conn) >= OUTPUT_LIMIT)
        {
          g_queue_push_tail (&client->deferred, g_bytes_new (text, len));
          client->deferred_bytes += len;
          client_replies_changed (self, client);
          return TRUE;
        }
      return handle_request (self, client, text, len);
    }

  return answer_fixed (self, client);
}

/* Hands the messages that waited to the handlers, as far as the output
 * and max-pending-requests let it.  Outside the client's I/O. */
static void
client_dispatch_deferred (RabcServer *self,
                          Client     *client)
{
  GBytes *message;

  while (!rabc_connection_is_closed (client->conn) &&
         rabc_connection_get_queued (client->conn) < OUTPUT_LIMIT &&
         rabc_reply_queue_get_length (&client->replies) < self->max_pending_requests &&
         (message = g_queue_pop_head (&client->deferred)) != NULL)
    {
      gsize len;
      const char *text = g_bytes_get_data (message, &len);

      client->deferred_bytes -= len;
      if (self->handling && !self->quiet)
        handle_request (self, client, text != NULL ? text : "", len);
      else
        answer_fixed (self, client);
      g_bytes_unref (message);
    }

  if (!rabc_connection_is_closed (client->conn))
    {
      client_replies_changed (self, client);
      rabc_connection_schedule_flush (client->conn);
    }
}

static void
on_failed (RabcConnection *conn,
           const GError   *error,
           gpointer        user_data)
{
  Client *client = user_data;
  RabcServer *self = client->server;
  int pid = client->entry.pid;
  guint uid = client->entry.uid;

  if (g_error_matches (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION))
    g_debug ("client gone: %s (pid %d, uid %u)", error->message, pid, uid);
  else if (g_error_matches (error, RABC_ERROR, RABC_ERROR_NO_MEMORY))
    server_log (self, LOG_DROPPED, "disconnecting a client: %s (pid %d, uid %u)",
                error->message, pid, uid);
  else
    server_log (self, LOG_PROTOCOL,
                "disconnecting a client that broke the protocol: %s (pid %d, uid %u)",
                error->message, pid, uid);

  drop_client (self, client, !self->quiet);
}

static void
on_watch (RabcConnection *conn,
          GIOCondition    events,
          gpointer        user_data)
{
  Client *client = user_data;
  struct epoll_event event = {
    .events = ((events & G_IO_IN) ? EPOLLIN : 0) | ((events & G_IO_OUT) ? EPOLLOUT : 0),
    .data.ptr = client,
  };

  epoll_ctl (client->server->epoll_fd, EPOLL_CTL_MOD, rabc_connection_get_fd (conn), &event);
  rabc_single_wait_forget (client->server->single_wait);
}

static const RabcConnectionFuncs connection_funcs = {
  .message = on_message,
  .failed = on_failed,
  .watch = on_watch,
};

/* --- accepting ---------------------------------------------------------- */

static void
set_accepting (RabcServer *self,
               gboolean    accepting)
{
  struct epoll_event event = {
    .events = accepting ? EPOLLIN : 0,
    .data.ptr = NULL,
  };

  epoll_ctl (self->epoll_fd, EPOLL_CTL_MOD, self->listen_fd, &event);
  rabc_single_wait_forget (self->single_wait);
  self->accept_paused = !accepting;
}

static void
resume_accepting (RabcServer *self)
{
  rabc_clear_source (&self->accept_retry_source);
  if (self->listen_fd >= 0)
    set_accepting (self, TRUE);
}

static gboolean
on_accept_retry (gpointer user_data)
{
  RabcServer *self = user_data;

  g_clear_pointer (&self->accept_retry_source, g_source_unref);
  set_accepting (self, TRUE);
  return G_SOURCE_REMOVE;
}

/* Out of descriptors: stop watching the listening socket, which would
 * otherwise wake us at once, until a client leaves or a moment passes. */
static void
pause_accepting (RabcServer *self)
{
  set_accepting (self, FALSE);

  mark_main_loop_needed (self);
  rabc_clear_source (&self->accept_retry_source);
  self->accept_retry_source = g_timeout_source_new (ACCEPT_RETRY_MS);
  g_source_set_static_name (self->accept_retry_source, "[rabc] accept retry");
  g_source_set_callback (self->accept_retry_source, on_accept_retry, self, NULL);
  g_source_attach (self->accept_retry_source, self->context);
}

static gboolean
is_listed (RabcServer *self,
           guint       uid)
{
  for (guint i = 0; i < self->allowed_uids->len; i++)
    if (g_array_index (self->allowed_uids, guint, i) == uid)
      return TRUE;
  return FALSE;
}

/* With no user listed, every user that can open the socket file may. */
static gboolean
is_allowed (RabcServer *self,
            uid_t       uid)
{
  return self->allowed_uids->len == 0 || is_listed (self, uid);
}

/* Whether a new connection from @uid may stay; logs why not. */
static gboolean
admit (RabcServer *self,
       pid_t       pid,
       uid_t       uid)
{
  guint user_clients;

  if (!is_allowed (self, uid))
    {
      server_log (self, LOG_REFUSED, "refusing a connection from uid %u (pid %d): not allowed",
                  (guint) uid, (int) pid);
      return FALSE;
    }

  if (self->peers.n_peers >= self->limit_clients)
    {
      server_log (self, LOG_REFUSED,
                  "refusing a connection from uid %u (pid %d): %u clients are connected, "
                  "the most the server takes (max-clients)",
                  (guint) uid, (int) pid, self->peers.n_peers);
      return FALSE;
    }

  user_clients = rabc_peer_table_count_user (&self->peers, uid);
  if (user_clients >= self->limit_clients_per_uid)
    {
      server_log (self, LOG_REFUSED,
                  "refusing a connection from uid %u (pid %d): it has %u connections, "
                  "the most one user may have (max-clients-per-uid)",
                  (guint) uid, (int) pid, user_clients);
      return FALSE;
    }

  return TRUE;
}

static void
accept_clients (RabcServer *self)
{
  for (guint i = 0; i < MAX_ACCEPTS_PER_DISPATCH && self->listen_fd >= 0; i++)
    {
      g_autoptr(GError) error = NULL;
      struct epoll_event event = { .events = EPOLLIN };
      Client *client;
      pid_t peer_pid;
      uid_t peer_uid;
      gid_t peer_gid;
      int fd;

      fd = rabc_socket_accept (self->listen_fd, &error);
      if (fd < 0)
        {
          if (error == NULL)
            return;

          server_log (self, LOG_ACCEPT, "%s", error->message);
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES))
            pause_accepting (self);
          return;
        }

      if (!rabc_socket_get_peer (fd, &peer_pid, &peer_uid, &peer_gid))
        {
          int errsv = errno;

          server_log (self, LOG_REFUSED, "refusing a connection whose peer is unknown: %s",
                      g_strerror (errsv));
          close (fd);
          continue;
        }
      if (!admit (self, peer_pid, peer_uid))
        {
          close (fd);
          continue;
        }

      client = g_new0 (Client, 1);
      client->server = self;
      client->entry.pid = peer_pid;
      client->entry.uid = peer_uid;
      client->entry.data = client;
      client->gid = peer_gid;
      client->max_message_size = self->max_message_size;
      client->conn = rabc_connection_new (fd, self->max_message_size, &connection_funcs, client);
      rabc_connection_set_read_policy (client->conn, MIN_READ_SHARE, MIN_READ_SHARE, OUTPUT_LIMIT);
      rabc_reply_queue_init (&client->replies);

      event.data.ptr = client;
      if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0)
        {
          int errsv = errno;

          server_log (self, LOG_ACCEPT, "cannot watch a new client: %s", g_strerror (errsv));
          client_free (client);
          continue;
        }

      rabc_peer_table_add (&self->peers, &client->entry, g_get_monotonic_time ());
      mark_main_loop_needed (self);
      g_debug ("client connected: pid %d, uid %u; %u clients now",
               (int) peer_pid, (guint) peer_uid, self->peers.n_peers);
      /* Without handlers no peer is made: rabcd's clients cost no object. */
      if (g_signal_has_handler_pending (self, signals[CLIENT_CONNECTED], 0, TRUE))
        g_signal_emit (self, signals[CLIENT_CONNECTED], 0, client_get_peer (self, client));
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CLIENTS]);
      check_handlers (self);
    }
}

/* The open descriptors of this process, or 0 when /proc cannot tell. */
static guint
count_open_descriptors (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  /* Less the one reading the directory. */
  return n > 0 ? n - 1 : 0;
}

/* Sets the connection limits in effect: the properties, unless the
 * descriptor limit allows fewer clients, in which case both shrink in
 * proportion, so that one user can still never take every descriptor. */
static void
update_limits (RabcServer *self)
{
  struct rlimit limit;
  guint64 available = G_MAXUINT;

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    {
      guint64 in_use = count_open_descriptors ();

      /* The clients' own descriptors are theirs to reuse. */
      in_use -= MIN (in_use, self->peers.n_peers);
      available = limit.rlim_cur > in_use + RESERVED_DESCRIPTORS
                ? limit.rlim_cur - in_use - RESERVED_DESCRIPTORS : 1;
    }

  self->limit_clients = (guint) MIN ((guint64) self->max_clients, available);
  self->limit_clients_per_uid = self->max_clients_per_uid;
  if (self->limit_clients < self->max_clients)
    self->limit_clients_per_uid =
      (guint) ((guint64) self->max_clients_per_uid * self->limit_clients / self->max_clients);
  self->limit_clients_per_uid = CLAMP (self->limit_clients_per_uid, 1, self->limit_clients);

  g_debug ("taking at most %u clients, %u per user (max-clients %u, max-clients-per-uid %u)",
           self->limit_clients, self->limit_clients_per_uid,
           self->max_clients, self->max_clients_per_uid);
}

/* --- the loop ----------------------------------------------------------- */

/* The clients ready: those the single wait got, if rabcd set one up and
 * nothing changed since, or else those ready now. */
static int
take_ready_events (RabcServer         *self,
                   struct epoll_event *events,
                   int                 max_events)
{
  int n;

  if (self->single_wait != NULL)
    return rabc_single_wait_take (self->single_wait, events, max_events);

  do
    n = epoll_wait (self->epoll_fd, events, max_events, 0);
  while (n < 0 && errno == EINTR);
  return n;
}

/* Whether @client, between frames after a long one, is not read in its
 * turn: with @read_size, the rest of @pool would not have read that one
 * whole.  The pool of a new round always would, so that the client that
 * waited longest is read. */
static gboolean
client_reads_later (Client *client,
                    gsize   read_size,
                    gsize   pool)
{
  return !rabc_connection_is_receiving (client->conn) &&
         turn_budget (read_size, pool) < MIN (client->long_read,
                                              turn_budget (read_size, ROUND_BYTES));
}

/* A client waiting for the pool, and when it began to wait, to sort by:
 * the round it was last read in, and in that round, the middle of a
 * frame before the end of one. */
typedef struct {
  guint64  since;
  Client  *client;
} PoolWait;

/* Orders the clients waiting for the pool: the one that waited longest
 * first. */
static int
compare_pool_waits (gconstpointer a,
                    gconstpointer b)
{
  guint64 since_a = ((const PoolWait *) a)->since;
  guint64 since_b = ((const PoolWait *) b)->since;

  return since_a < since_b ? -1 : since_a > since_b;
}

/* Reads @client, ready in this round, with what is left of the round's
 * @pool, and takes what it read from the pool. */
static void
client_take_turn (RabcServer *self,
                  Client     *client,
                  gsize       read_size,
                  gsize      *pool,
                  gint64      now)
{
  gsize got = client_handle_io (self, client, client->ready, read_size, *pool, now);

  client->ready_round = 0;
  *pool -= MIN (*pool, got);
  if (got > 0)
    {
      client->read_round = self->round;
      client->long_read = got > read_size ? got : 0;
    }
}

/* Reads the clients of @events, @n of them, ready at @now: one round. */
static void
run_round (RabcServer         *self,
           struct epoll_event *events,
           int                 n,
           gint64              now)
{
  PoolWait pool_waits[MAX_EVENTS_PER_DISPATCH];
  guint n_pool_waits = 0;
  guint n_read_in_turn = 0;
  guint n_readers = 0;
  gsize read_size;
  gsize pool = ROUND_BYTES;

  self->round++;

  for (int i = 0; i < n; i++)
    {
      Client *client = events[i].data.ptr;

      if (client == NULL)
        continue;
      client->ready_round = self->round;
      client->ready = rabc_socket_condition_from_poll (events[i].events);
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        {
          gboolean receiving = rabc_connection_is_receiving (client->conn);

          n_readers++;
          if (receiving || client->long_read > 0)
            pool_waits[n_pool_waits++] = (PoolWait) { client->read_round * 2 + !receiving, client };
        }
    }
  read_size = round_read_size (self, n_readers);

  /* The rest of the frames first, in turns: the round's pool goes to the
   * clients that waited longest for it.  A client between frames after a
   * long one is not read while what is left would not have read that
   * one: its next frame is most likely as long, and is read whole at a
   * later turn, where a read of its share now would only start it. */
  qsort (pool_waits, n_pool_waits, sizeof pool_waits[0], compare_pool_waits);
  for (guint i = 0; i < n_pool_waits && self->epoll_fd >= 0; i++)
    {
      Client *client = pool_waits[i].client;

      if (client_reads_later (client, read_size, pool))
        client->ready &= ~(G_IO_IN | G_IO_HUP | G_IO_ERR);
      if (client->ready == 0)
        {
          client->ready_round = 0;
          continue;
        }
      /* Their replies are written together after the pass. */
      rabc_connection_hold_output (client->conn, TRUE);
      client_take_turn (self, client, read_size, &pool, now);
      pool_waits[n_read_in_turn++].client = client;
    }
  /* Dropped clients are freed after the dispatch, and a closed
   * connection writes nothing. */
  for (guint i = 0; i < n_read_in_turn; i++)
    rabc_connection_hold_output (pool_waits[i].client->conn, FALSE);

  for (int i = 0; i < n && self->epoll_fd >= 0; i++)
    {
      Client *client = events[i].data.ptr;

      if (client == NULL)
        {
          accept_clients (self);
          continue;
        }
      /* Handled above, or ready again for something a handler did. */
      if (client->ready_round != self->round)
        continue;
      client_take_turn (self, client, read_size, &pool, now);
    }
}

/* Whether rabcd's dispatch may wait for its clients itself after a round:
 * it set up the single wait, nothing that GLib has to see first happened
 * since the dispatch began, and no ::handle-request handler would be
 * handed a context time (g_source_get_time()) as old as the rounds. */
static gboolean
may_serve_again (RabcServer *self)
{
  return self->single_wait != NULL && self->dispatch_depth == 1 &&
         !self->main_loop_needed && !self->handling;
}

static gboolean
on_epoll (GIOCondition condition,
          gpointer     user_data)
{
  g_autoptr(RabcServer) self = g_object_ref (user_data);
  struct epoll_event events[MAX_EVENTS_PER_DISPATCH];
  gint64 now = g_source_get_time (self->epoll_source);
  int n;

  begin_dispatch (self);
  n = take_ready_events (self, events, G_N_ELEMENTS (events));
  run_round (self, events, n, now);

  /* rabcd's: while GLib has nothing to do, the next round waits here, and
   * a client's round trip costs no iteration of the main context. */
  while (may_serve_again (self) &&
         (n = rabc_single_wait_again (self->single_wait, events, G_N_ELEMENTS (events))) > 0)
    run_round (self, events, n, g_get_monotonic_time ());
  self->main_loop_needed = FALSE;

  end_dispatch (self);
  return G_SOURCE_CONTINUE;
}

/* rabcd's: see rabc-server-private.h. */
gboolean
rabc_server_use_single_wait (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), FALSE);

  if (self->epoll_fd >= 0 && self->single_wait == NULL)
    self->single_wait = rabc_single_wait_new (self->context, self->epoll_fd,
                                              MAX_EVENTS_PER_DISPATCH);
  return self->single_wait != NULL;
}

/* Answers what the clients have already sent and writes what is owed to
 * them, as far as that goes without blocking, so that stopping loses no
 * reply to a request the server has received. */
static void
drain_clients (RabcServer *self)
{
  g_autoptr(GPtrArray) entries = rabc_peer_table_list (&self->peers);

  begin_dispatch (self);
  for (guint i = 0; i < entries->len; i++)
    {
      Client *client = ((RabcPeerEntry *) g_ptr_array_index (entries, i))->data;
      guint64 moved;

      /* Held in a turn that a handler stopping the server cut short: the
       * drain writes as it reads, as for any client. */
      rabc_connection_hold_output (client->conn, FALSE);
      for (guint round = 0; round < MAX_DRAIN_ROUNDS; round++)
        {
          if (rabc_connection_is_closed (client->conn))
            break;
          moved = rabc_connection_get_bytes_moved (client->conn);
          client_handle_io (self, client, G_IO_IN | G_IO_OUT, round_read_size (self, 1),
                            ROUND_BYTES, g_get_monotonic_time ());
          if (rabc_connection_get_bytes_moved (client->conn) == moved)
            break;
        }
    }
  end_dispatch (self);
}

static void
server_stop (RabcServer *self,
             gboolean    emit)
{
  if (self->listen_fd < 0)
    return;

  g_object_ref (self);
  self->quiet = !emit;

  rabc_clear_source (&self->accept_retry_source);
  rabc_clear_source (&self->epoll_source);
  g_clear_pointer (&self->single_wait, rabc_single_wait_free);
  rabc_clear_source (&self->stall_source);
  rabc_clear_source (&self->budget_source);

  g_clear_pointer (&self->socket_file, rabc_socket_file_release);
  close (self->listen_fd);
  self->listen_fd = -1;

  g_object_freeze_notify (G_OBJECT (self));
  drain_clients (self);
  {
    g_autoptr(GPtrArray) entries = rabc_peer_table_list (&self->peers);

    for (guint i = 0; i < entries->len; i++)
      {
        Client *client = ((RabcPeerEntry *) g_ptr_array_index (entries, i))->data;

        /* The drain skipped a client whose I/O called this (a handler
         * stopping the server): what it was answered goes out too. */
        if (rabc_connection_flush (client->conn))
          drop_client (self, client, emit);
      }
  }

  if (self->dispatch_depth == 0)
    g_ptr_array_set_size (self->dropped, 0);

  /* Nothing more can be logged: say now what was held back. */
  flush_log_summaries (self, G_MAXINT64);
  rabc_clear_source (&self->log_source);

  close (self->epoll_fd);
  self->epoll_fd = -1;
  g_clear_pointer (&self->context, g_main_context_unref);

  if (emit)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LISTENING]);
  g_object_thaw_notify (G_OBJECT (self));

  self->accept_paused = FALSE;
  self->quiet = FALSE;
  g_debug ("stopped listening on %s", self->socket_path);
  g_object_unref (self);
}

static void
update_reply_frame (RabcServer *self)
{
  g_byte_array_set_size (self->reply_frame, 0);
  rabc_frame_encode (self->reply_frame, self->reply, strlen (self->reply));
}

static void
rabc_server_dispose (GObject *object)
{
  RabcServer *self = RABC_SERVER (object);

  server_stop (self, FALSE);

  G_OBJECT_CLASS (rabc_server_parent_class)->dispose (object);
}

static void
rabc_server_finalize (GObject *object)
{
  RabcServer *self = RABC_SERVER (object);

  rabc_peer_table_clear (&self->peers);
  g_clear_pointer (&self->allowed_uids, g_array_unref);
  g_clear_pointer (&self->dropped, g_ptr_array_unref);
  g_clear_pointer (&self->reply_frame, g_byte_array_unref);
  g_clear_pointer (&self->socket_path, g_free);
  g_clear_pointer (&self->reply, g_free);
  if (self->read_buffer != NULL)
    g_aligned_free (self->read_buffer - READ_BUFFER_OFFSET);

  G_OBJECT_CLASS (rabc_server_parent_class)->finalize (object);
}

static void
rabc_server_constructed (GObject *object)
{
  RabcServer *self = RABC_SERVER (object);

  G_OBJECT_CLASS (rabc_server_parent_class)->constructed (object);

  if (self->socket_path == NULL)
    self->socket_path = g_strdup (rabc_get_default_socket_path ());
}

static void
rabc_server_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  RabcServer *self = RABC_SERVER (object);

  switch (prop_id)
    {
    case PROP_SOCKET_PATH:
      g_value_set_string (value, self->socket_path);
      break;
    case PROP_REPLY:
      g_value_set_string (value, self->reply);
      break;
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint (value, self->max_message_size);
      break;
    case PROP_SOCKET_MODE:
      g_value_set_uint (value, self->socket_mode);
      break;
    case PROP_N_CLIENTS:
      g_value_set_uint (value, rabc_server_get_n_clients (self));
      break;
    case PROP_LISTENING:
      g_value_set_boolean (value, rabc_server_get_listening (self));
      break;
    case PROP_MAX_CLIENTS:
      g_value_set_uint (value, self->max_clients);
      break;
    case PROP_MAX_CLIENTS_PER_UID:
      g_value_set_uint (value, self->max_clients_per_uid);
      break;
    case PROP_MAX_BUFFERED_BYTES:
      g_value_set_uint64 (value, self->max_buffered_bytes);
      break;
    case PROP_FRAME_TIMEOUT:
      g_value_set_uint (value, self->frame_timeout);
      break;
    case PROP_MAX_PENDING_REQUESTS:
      g_value_set_uint (value, self->max_pending_requests);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
rabc_server_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  RabcServer *self = RABC_SERVER (object);

  switch (prop_id)
    {
    case PROP_SOCKET_PATH:
      self->socket_path = g_value_dup_string (value);
      break;
    case PROP_REPLY:
      rabc_server_set_reply (self, g_value_get_string (value));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      rabc_server_set_max_message_size (self, g_value_get_uint (value));
      break;
    case PROP_SOCKET_MODE:
      rabc_server_set_socket_mode (self, g_value_get_uint (value));
      break;
    case PROP_MAX_CLIENTS:
      rabc_server_set_max_clients (self, g_value_get_uint (value));
      break;
    case PROP_MAX_CLIENTS_PER_UID:
      rabc_server_set_max_clients_per_uid (self, g_value_get_uint (value));
      break;
    case PROP_MAX_BUFFERED_BYTES:
      rabc_server_set_max_buffered_bytes (self, g_value_get_uint64 (value));
      break;
    case PROP_FRAME_TIMEOUT:
      rabc_server_set_frame_timeout (self, g_value_get_uint (value));
      break;
    case PROP_MAX_PENDING_REQUESTS:
      rabc_server_set_max_pending_requests (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* ::handle-request's va_list marshaller, the one its C handlers run
 * through.  glib-genmarshal's would take a reference to the request for the
 * call; the server holds one through the emission, so this one does not. */
static void
marshal_handle_request_v (GClosure *closure,
                          GValue   *return_value,
                          gpointer  instance,
                          va_list   args,
                          gpointer  marshal_data,
                          int       n_params,
                          GType    *param_types)
{
  typedef gboolean (*HandleRequestFunc) (gpointer     data1,
                                         RabcRequest *request,
                                         gpointer     data2);
  GCClosure *cc = (GCClosure *) closure;
  HandleRequestFunc callback;
  RabcRequest *request;
  gpointer data1, data2;
  va_list args_copy;

  G_VA_COPY (args_copy, args);
  request = va_arg (args_copy, RabcRequest *);
  va_end (args_copy);

  if (G_CCLOSURE_SWAP_DATA (closure))
    {
      data1 = closure->data;
      data2 = instance;
    }
  else
    {
      data1 = instance;
      data2 = closure->data;
    }
  callback = (HandleRequestFunc) (marshal_data != NULL ? marshal_data : cc->callback);
  g_value_set_boolean (return_value, callback (data1, request, data2));
}

static void
rabc_server_class_init (RabcServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = rabc_server_constructed;
  object_class->dispose = rabc_server_dispose;
  object_class->finalize = rabc_server_finalize;
  object_class->get_property = rabc_server_get_property;
  object_class->set_property = rabc_server_set_property;

  /**
   * RabcServer:socket-path:
   *
   * The path of the Unix socket to listen on. When set to `NULL` at
   * construction, or not set, the default from
   * [func@Rabc.get_default_socket_path] is used: reading it never gives
   * `NULL`.
   */
  properties[PROP_SOCKET_PATH] =
    g_param_spec_string ("socket-path", NULL, NULL,
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:reply:
   *
   * The text sent back for every message no
   * [signal@Rabc.Server::handle-request] handler takes, and for a request
   * released without an answer. It must be shorter than
   * [property@Rabc.Server:max-message-size]. Setting it to `NULL` sets
   * the default, `pong`: reading it never gives `NULL`.
   */
  properties[PROP_REPLY] =
    g_param_spec_string ("reply", NULL, NULL,
                         DEFAULT_REPLY,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                         G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:max-message-size:
   *
   * The maximum size of a message from a client, in bytes: a client that
   * sends a frame whose length is greater than or equal to it is
   * disconnected. Applies to clients that connect afterwards.
   */
  properties[PROP_MAX_MESSAGE_SIZE] =
    g_param_spec_uint ("max-message-size", NULL, NULL,
                       1, G_MAXINT32, RABC_DEFAULT_MAX_MESSAGE_SIZE,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:socket-mode:
   *
   * The permissions of the socket file the server creates, such as `0600`
   * (the default: only the owner may connect) or `0666`. The file has
   * these permissions from the moment it exists. Applies to the next
   * [method@Rabc.Server.start].
   */
  properties[PROP_SOCKET_MODE] =
    g_param_spec_uint ("socket-mode", NULL, NULL,
                       0, 0777, 0600,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:n-clients:
   *
   * The number of connected clients.
   */
  properties[PROP_N_CLIENTS] =
    g_param_spec_uint ("n-clients", NULL, NULL,
                       0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:listening:
   *
   * Whether the server is started and listening.
   */
  properties[PROP_LISTENING] =
    g_param_spec_boolean ("listening", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:max-clients:
   *
   * The most clients connected at once; a connection beyond it is
   * accepted and closed at once, with a log message. When the descriptor
   * limit (`RLIMIT_NOFILE`) leaves room for fewer clients, the server takes
   * that many instead, keeping 16 descriptors in reserve, and lowers
   * [property@Rabc.Server:max-clients-per-uid] in proportion, so that one
   * user can still take only that share of the descriptors. The limits in
   * effect are worked out at [method@Rabc.Server.start] and whenever one
   * of these properties changes. Default: 2048, as dbus-daemon's system
   * bus (`max_completed_connections`).
   */
  properties[PROP_MAX_CLIENTS] =
    g_param_spec_uint ("max-clients", NULL, NULL,
                       1, G_MAXINT32, RABC_DEFAULT_MAX_CLIENTS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:max-clients-per-uid:
   *
   * The most clients one user (by the `SO_PEERCRED` of its connections)
   * may have connected at once; a connection beyond it is accepted and
   * closed at once, with a log message. Root is no exception. See
   * [property@Rabc.Server:max-clients] for how the descriptor limit
   * lowers it. Default: 256, as dbus-daemon's system bus
   * (`max_connections_per_user`).
   */
  properties[PROP_MAX_CLIENTS_PER_UID] =
    g_param_spec_uint ("max-clients-per-uid", NULL, NULL,
                       1, G_MAXINT32, RABC_DEFAULT_MAX_CLIENTS_PER_UID,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:max-buffered-bytes:
   *
   * The memory all clients together may hold in the server, in bytes:
   * messages partly received and replies not yet written. Past it, the
   * server disconnects the client holding the most among the clients of
   * the user holding the most, until the total is back under the limit,
   * so that users holding less than their share keep it; with a single
   * user, that is the largest holder. The total may exceed the limit by at
   * most what one read brings before the check: a message's buffer
   * doubling (less than one message) and the replies to that read. Default:
   * 64 MiB.
   *
   * Per client the server holds at most one message partly received
   * (shorter than [property@Rabc.Server:max-message-size]) and at most
   * 1 MiB of replies plus the replies to one read: a client is not read at
   * all while 1 MiB of replies waits for it, and a read is cut short so
   * that its replies stay within 128 KiB (two replies, when a reply is
   * longer than 64 KiB). The messages of requests waiting for an answer,
   * and the replies waiting behind them, count too: at most
   * [property@Rabc.Server:max-pending-requests] of them. A
   * [signal@Rabc.Server::handle-request] handler answering at once is
   * handed the messages of a read only while less than 1 MiB of replies
   * waits for the client; the rest of the read waits, counted too, until
   * the client reads. Answers an application gives between two
   * iterations of the main loop are checked at the next. What a
   * [class@Rabc.Request] the application holds is the application's.
   */
  properties[PROP_MAX_BUFFERED_BYTES] =
    g_param_spec_uint64 ("max-buffered-bytes", NULL, NULL,
                         1, G_MAXUINT64, RABC_DEFAULT_MAX_BUFFERED_BYTES,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                         G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:frame-timeout:
   *
   * How long, in milliseconds, a client may stay in the middle of a frame
   * without progress before it is disconnected, with a log message: a
   * message it started to send and does not finish, or replies it does
   * not read. Any byte received or written is progress. A client with
   * nothing half-way is idle, and may stay connected as long as it likes
   * (a [class@Rabc.Client] without automatic pings does); idle clients are
   * bounded by [property@Rabc.Server:max-clients] and
   * [property@Rabc.Server:max-clients-per-uid]. 0 means no timeout.
   * Default: 5000, as dbus-daemon's `auth_timeout` on the system bus.
   */
  properties[PROP_FRAME_TIMEOUT] =
    g_param_spec_uint ("frame-timeout", NULL, NULL,
                       0, G_MAXINT32, RABC_DEFAULT_FRAME_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * RabcServer:max-pending-requests:
   *
   * The most requests of one client that may wait for an answer at once:
   * taken by a [signal@Rabc.Server::handle-request] handler and not
   * answered yet, or answered and waiting behind one that is not, since
   * replies go out in order. A client that has this many is not read until
   * answers go out: its further requests wait in its socket, and so does
   * it. Default: 128, as dbus-daemon's system bus
   * (`max_replies_per_connection`).
   */
  properties[PROP_MAX_PENDING_REQUESTS] =
    g_param_spec_uint ("max-pending-requests", NULL, NULL,
                       1, G_MAXINT32, RABC_DEFAULT_MAX_PENDING_REQUESTS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                       G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * RabcServer::client-connected:
   * @self: the server
   * @peer: the client
   *
   * Emitted when a client connects, once it is admitted. Closing @peer
   * from a handler disconnects it at once.
   */
  signals[CLIENT_CONNECTED] =
    g_signal_new ("client-connected",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, RABC_TYPE_PEER);

  /**
   * RabcServer::client-disconnected:
   * @self: the server
   * @peer: the client, no longer [property@Rabc.Peer:connected]
   *
   * Emitted when a client disconnects or is disconnected. Its requests
   * still held need no answer: answering them does nothing.
   */
  signals[CLIENT_DISCONNECTED] =
    g_signal_new ("client-disconnected",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, RABC_TYPE_PEER);

  /**
   * RabcServer::message-received:
   * @self: the server
   * @message: the text of the message, up to its first NUL character if
   *   it holds one
   *
   * Emitted for every message received, before
   * [signal@Rabc.Server::handle-request]. It is for watching messages;
   * answering them is for ::handle-request.
   */
  signals[MESSAGE_RECEIVED] =
    g_signal_new ("message-received",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * RabcServer::handle-request:
   * @self: the server
   * @request: the message received
   *
   * Emitted for every message received, in the server's main context, in
   * the order the messages came on each connection.
   *
   * A handler that returns `TRUE` takes @request: it answers it with
   * [method@Rabc.Request.reply] or [method@Rabc.Request.reply_bytes],
   * before it returns or later, from any thread, keeping a reference
   * until then. Handlers after it are not called. When no handler takes
   * the request, the server answers it with
   * [property@Rabc.Server:reply]; a server with no handler does so
   * without making a [class@Rabc.Request] at all.
   *
   * The replies to one client go out in the order of its requests: one
   * answered early waits for those before it. A client with
   * [property@Rabc.Server:max-pending-requests] requests waiting is not
   * read until some are answered, and one for which 1 MiB of replies
   * waits is handed no more requests until it reads them.
   *
   * Returns: `TRUE` when the handler takes @request, to answer it
   */
  signals[HANDLE_REQUEST] =
    g_signal_new ("handle-request",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, g_signal_accumulator_true_handled, NULL,
                  _rabc_marshal_BOOLEAN__OBJECT,
                  G_TYPE_BOOLEAN, 1, RABC_TYPE_REQUEST);
  g_signal_set_va_marshaller (signals[HANDLE_REQUEST], G_TYPE_FROM_CLASS (klass),
                              marshal_handle_request_v);
}

static void
rabc_server_init (RabcServer *self)
{
  self->listen_fd = -1;
  self->epoll_fd = -1;
  /* A valid reply from the start, whatever a construction sets. */
  self->reply = g_strdup (DEFAULT_REPLY);
  self->reply_frame = g_byte_array_new ();
  update_reply_frame (self);
  self->allowed_uids = g_array_new (FALSE, FALSE, sizeof (guint));
  rabc_peer_table_init (&self->peers);
  self->dropped = g_ptr_array_new_with_free_func ((GDestroyNotify) client_free);
  for (guint kind = 0; kind < N_LOG_KINDS; kind++)
    rabc_rate_limit_init (&self->log_limits[kind], LOG_INTERVAL, LOG_BURST);
}

/**
 * rabc_server_new:
 * @socket_path: (nullable) (type filename): the socket to listen on, or
 *   `NULL` for [func@Rabc.get_default_socket_path]
 *
 * Creates a server. It listens once [method@Rabc.Server.start] is called.
 *
 * Returns: (transfer full): a new server
 */
RabcServer *
rabc_server_new (const char *socket_path)
{
  return g_object_new (RABC_TYPE_SERVER, "socket-path", socket_path, NULL);
}

static gboolean
check_can_start (RabcServer  *self,
                 GError     **error)
{
  if (self->listen_fd >= 0)
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                   "the server is already listening on %s", self->socket_path);
      return FALSE;
    }

  if (self->reply_frame->len - RABC_FRAME_HEADER_SIZE >= self->max_message_size)
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT,
                   "the reply of %u bytes is not shorter than the maximum message size of %u",
                   self->reply_frame->len - RABC_FRAME_HEADER_SIZE, self->max_message_size);
      return FALSE;
    }

  return TRUE;
}

/* Makes the epoll descriptor that watches @listen_fd, and nothing else: on
 * failure @listen_fd is as it was, for the caller to close or keep.
 * @path is the one to name in the error.
 *
 * Returns: the epoll descriptor, or -1 with @error set */
static int
watch_listener (int          listen_fd,
                const char  *path,
                GError     **error)
{
  struct epoll_event event = { .events = EPOLLIN, .data.ptr = NULL };
  int epoll_fd = epoll_create1 (EPOLL_CLOEXEC);

  if (epoll_fd < 0 || epoll_ctl (epoll_fd, EPOLL_CTL_ADD, listen_fd, &event) < 0)
    {
      int errsv = errno;

      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot watch %s: %s", path, g_strerror (errsv));
      if (epoll_fd >= 0)
        close (epoll_fd);
      return -1;
    }

  return epoll_fd;
}

/* Serves on @listen_fd, watched by @epoll_fd: the server owns both now. */
static void
serve (RabcServer *self,
       int         listen_fd,
       int         epoll_fd)
{
  self->listen_fd = listen_fd;
  self->epoll_fd = epoll_fd;
  self->context = g_main_context_ref_thread_default ();
  self->epoll_source = rabc_fd_source_new (self->epoll_fd, G_IO_IN);
  g_source_set_callback (self->epoll_source, (GSourceFunc) (void (*) (void)) on_epoll, self, NULL);
  g_source_attach (self->epoll_source, self->context);
  self->stall_source = rabc_deadline_source_new ("[rabc] frame timeout", on_stall_timer,
                                                 self, NULL, self->context);
  self->log_source = rabc_deadline_source_new ("[rabc] log summary", on_log_summary,
                                               self, NULL, self->context);
  self->budget_source = rabc_deadline_source_new ("[rabc] memory budget", on_budget_check,
                                                  self, NULL, self->context);
  update_limits (self);

  g_debug ("listening on %s", self->socket_path);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LISTENING]);
}

/**
 * rabc_server_start:
 * @self: a [class@Rabc.Server]
 * @error: return location for a [struct@GLib.Error]
 *
 * Creates the socket file with the permissions of
 * [property@Rabc.Server:socket-mode] and starts serving on the
 * thread-default main context.
 *
 * The server owns the path through a lock file beside the socket, the
 * path with `.lock` appended, which it holds with `flock()` until it stops:
 * of several servers started at once on one path, exactly one binds it.
 *
 * A socket file nobody listens on is replaced; anything else at the path
 * is left alone.
 *
 * ## Errors
 *
 * An error of the [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_ADDRESS_IN_USE](error.Error.html#address_in_use): a
 *   server already answers on the path or holds its lock, or servers keep
 *   starting and stopping on it so that the lock cannot be had
 * - [%RABC_ERROR_INVALID_ARGUMENT](error.Error.html#invalid_argument): the
 *   server is already listening; [property@Rabc.Server:reply] is not
 *   shorter than [property@Rabc.Server:max-message-size]; the path is
 *   empty or too long for a Unix socket address (107 bytes at most); it
 *   exists and is not a socket (a symbolic link included), or cannot be
 *   examined; the lock file cannot be opened (for example in a directory
 *   the user may not write to), is not a regular file or cannot be
 *   locked; or a socket file nobody listens on cannot be removed
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): the
 *   system refused to create, bind or listen on the socket or to set its
 *   permissions, it cannot be told whether a server listens on a socket
 *   file already there, or the server cannot watch the socket, for
 *   example when the process is out of descriptors
 *
 * Returns: `TRUE` when listening, `FALSE` with @error set
 */
gboolean
rabc_server_start (RabcServer  *self,
                   GError     **error)
{
  RabcSocketFile *socket_file;
  int fd, epoll_fd;

  g_return_val_if_fail (RABC_IS_SERVER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_can_start (self, error))
    return FALSE;

  socket_file = rabc_socket_file_bind (self->socket_path, self->socket_mode, &fd, error);
  if (socket_file == NULL)
    return FALSE;

  epoll_fd = watch_listener (fd, self->socket_path, error);
  if (epoll_fd < 0)
    {
      /* The socket is the server's own: nothing of it may stay behind. */
      close (fd);
      rabc_socket_file_release (socket_file);
      return FALSE;
    }

  self->socket_file = socket_file;
  serve (self, fd, epoll_fd);
  return TRUE;
}

/**
 * rabc_server_start_with_socket_fd:
 * @self: a [class@Rabc.Server]
 * @fd: a listening Unix stream socket
 * @error: return location for a [struct@GLib.Error]
 *
 * Starts serving on the thread-default main context on @fd, a socket that
 * is already listening, such as one passed by systemd socket activation.
 * The socket file belongs to whoever created it, and the server neither
 * creates nor removes it.
 *
 * On success the server owns @fd: it makes it non-blocking and
 * close-on-exec, [property@Rabc.Server:socket-path] becomes the path @fd
 * is bound to, and the server closes @fd when it stops. On failure, the
 * caller must close @fd: the server leaves it open, with the flags it had,
 * and its own properties as they were.
 *
 * ## Errors
 *
 * An error of the [error@Rabc.Error] domain:
 *
 * - [%RABC_ERROR_INVALID_ARGUMENT](error.Error.html#invalid_argument): the
 *   server is already listening; [property@Rabc.Server:reply] is not
 *   shorter than [property@Rabc.Server:max-message-size]; or @fd is not a
 *   listening Unix stream socket (a closed descriptor, a pipe, a datagram
 *   or TCP socket, a socket that does not listen), or cannot be made
 *   non-blocking
 * - [%RABC_ERROR_IPC_CONNECTION](error.Error.html#ipc_connection): the
 *   server cannot watch @fd, for example when the process is out of
 *   descriptors
 *
 * Returns: `TRUE` when serving, `FALSE` with @error set
 */
gboolean
rabc_server_start_with_socket_fd (RabcServer  *self,
                                  int          fd,
                                  GError     **error)
{
  g_autofree char *path = NULL;
  int status_flags, fd_flags, epoll_fd;

  g_return_val_if_fail (RABC_IS_SERVER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_can_start (self, error))
    return FALSE;

  /* Checking @fd makes it non-blocking and close-on-exec: a failure after
   * that gives it back as it came. */
  status_flags = fcntl (fd, F_GETFL);
  fd_flags = fcntl (fd, F_GETFD);

  path = rabc_socket_check_listener (fd, error);
  epoll_fd = path == NULL ? -1
           : watch_listener (fd, *path != '\0' ? path : self->socket_path, error);
  if (epoll_fd < 0)
    {
      if (status_flags >= 0)
        fcntl (fd, F_SETFL, status_flags);
      if (fd_flags >= 0)
        fcntl (fd, F_SETFD, fd_flags);
      return FALSE;
    }

  if (*path != '\0' && g_strcmp0 (path, self->socket_path) != 0)
    {
      g_free (self->socket_path);
      self->socket_path = g_steal_pointer (&path);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SOCKET_PATH]);
    }

  serve (self, fd, epoll_fd);
  return TRUE;
}

/**
 * rabc_server_stop:
 * @self: a [class@Rabc.Server]
 *
 * Stops listening and disconnects every client, after answering what the
 * clients have already sent as far as that goes without blocking. Removes
 * the socket file if it is still the one the server created. Stopping a
 * stopped server does nothing.
 */
void
rabc_server_stop (RabcServer *self)
{
  g_return_if_fail (RABC_IS_SERVER (self));

  server_stop (self, TRUE);
}

/**
 * rabc_server_get_socket_path:
 * @self: a [class@Rabc.Server]
 *
 * Gets the path of the socket the server listens on.
 *
 * Returns: (type filename): the socket path
 */
const char *
rabc_server_get_socket_path (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), NULL);

  return self->socket_path;
}

/**
 * rabc_server_get_reply:
 * @self: a [class@Rabc.Server]
 *
 * Gets the text sent back for every message.
 *
 * Returns: the reply text, never `NULL`
 */
const char *
rabc_server_get_reply (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), NULL);

  return self->reply;
}

/**
 * rabc_server_set_reply:
 * @self: a [class@Rabc.Server]
 * @reply: (nullable): the text to send back for every message, valid
 *   UTF-8, or `NULL` for the default
 *
 * Sets [property@Rabc.Server:reply], the text sent back for every message.
 * `NULL` sets the default, `pong`.
 */
void
rabc_server_set_reply (RabcServer *self,
                       const char *reply)
{
  g_return_if_fail (RABC_IS_SERVER (self));
  g_return_if_fail (reply == NULL || g_utf8_validate (reply, -1, NULL));

  if (reply == NULL)
    reply = DEFAULT_REPLY;

  if (g_strcmp0 (self->reply, reply) == 0)
    return;

  g_free (self->reply);
  self->reply = g_strdup (reply);
  update_reply_frame (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REPLY]);
}

/**
 * rabc_server_get_max_message_size:
 * @self: a [class@Rabc.Server]
 *
 * Gets the maximum size of a message from a client.
 *
 * Returns: the maximum message size in bytes
 */
guint
rabc_server_get_max_message_size (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), 0);

  return self->max_message_size;
}

/**
 * rabc_server_set_max_message_size:
 * @self: a [class@Rabc.Server]
 * @max_message_size: the maximum message size in bytes, at least 1
 *
 * Sets the maximum size of a message from a client that connects from now
 * on.
 */
void
rabc_server_set_max_message_size (RabcServer *self,
                                  guint       max_message_size)
{
  g_return_if_fail (RABC_IS_SERVER (self));
  g_return_if_fail (max_message_size > 0);

  if (self->max_message_size == max_message_size)
    return;

  self->max_message_size = max_message_size;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_MESSAGE_SIZE]);
}

/**
 * rabc_server_get_socket_mode:
 * @self: a [class@Rabc.Server]
 *
 * Gets the permissions of the socket file the server creates.
 *
 * Returns: the permission bits, such as `0600`
 */
guint
rabc_server_get_socket_mode (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), 0);

  return self->socket_mode;
}

/**
 * rabc_server_set_socket_mode:
 * @self: a [class@Rabc.Server]
 * @mode: permission bits, at most `0777`
 *
 * Sets the permissions of the socket file the server creates at the next
 * [method@Rabc.Server.start].
 */
void
rabc_server_set_socket_mode (RabcServer *self,
                             guint       mode)
{
  g_return_if_fail (RABC_IS_SERVER (self));
  g_return_if_fail (mode <= 0777);

  if (self->socket_mode == mode)
    return;

  self->socket_mode = mode;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SOCKET_MODE]);
}

/**
 * rabc_server_add_allowed_uid:
 * @self: a [class@Rabc.Server]
 * @uid: a user ID
 *
 * Lets the user @uid connect. Once a user is added, connections from users
 * that were not added are refused, whatever the permissions of the socket
 * file; by default every user that can open the socket file may connect.
 * The peer's user is read with `SO_PEERCRED` and logged at debug level
 * with its process ID.
 */
void
rabc_server_add_allowed_uid (RabcServer *self,
                             guint       uid)
{
  g_return_if_fail (RABC_IS_SERVER (self));

  if (!is_listed (self, uid))
    g_array_append_val (self->allowed_uids, uid);
}

/**
 * rabc_server_get_n_clients:
 * @self: a [class@Rabc.Server]
 *
 * Gets the number of connected clients.
 *
 * Returns: the number of clients
 */
guint
rabc_server_get_n_clients (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), 0);

  return self->peers.n_peers;
}

/**
 * rabc_server_get_peers:
 * @self: a [class@Rabc.Server]
 *
 * Gets the clients connected now, in no particular order.
 *
 * Returns: (transfer full) (element-type Rabc.Peer): the peers; free with
 *   `g_list_free_full (peers, g_object_unref)`
 */
GList *
rabc_server_get_peers (RabcServer *self)
{
  g_autoptr(GPtrArray) entries = NULL;
  GList *peers = NULL;

  g_return_val_if_fail (RABC_IS_SERVER (self), NULL);

  entries = rabc_peer_table_list (&self->peers);
  for (guint i = entries->len; i > 0; i--)
    {
      Client *client = ((RabcPeerEntry *) g_ptr_array_index (entries, i - 1))->data;

      peers = g_list_prepend (peers, g_object_ref (client_get_peer (self, client)));
    }
  return peers;
}

/**
 * rabc_server_get_listening:
 * @self: a [class@Rabc.Server]
 *
 * Gets whether the server is listening.
 *
 * Returns: `TRUE` between a successful [method@Rabc.Server.start] and
 *   [method@Rabc.Server.stop]
 */
gboolean
rabc_server_get_listening (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), FALSE);

  return self->listen_fd >= 0;
}

/**
 * rabc_server_get_max_clients:
 * @self: a [class@Rabc.Server]
 *
 * Gets the most clients connected at once.
 *
 * Returns: the value of [property@Rabc.Server:max-clients]
 */
guint
rabc_server_get_max_clients (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), 0);

  return self->max_clients;
}

/**
 * rabc_server_set_max_clients:
 * @self: a [class@Rabc.Server]
 * @max_clients: the most clients connected at once, from 1 to %G_MAXINT32
 *
 * Sets [property@Rabc.Server:max-clients]. Clients already connected
 * stay, even beyond the new limit.
 */
void
rabc_server_set_max_clients (RabcServer *self,
                             guint       max_clients)
{
  g_return_if_fail (RABC_IS_SERVER (self));
  g_return_if_fail (max_clients > 0 && max_clients <= G_MAXINT32);

  if (self->max_clients == max_clients)
    return;

  self->max_clients = max_clients;
  if (self->listen_fd >= 0)
    update_limits (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_CLIENTS]);
}

/**
 * rabc_server_get_max_clients_per_uid:
 * @self: a [class@Rabc.Server]
 *
 * Gets the most clients one user may have connected at once.
 *
 * Returns: the value of [property@Rabc.Server:max-clients-per-uid]
 */
guint
rabc_server_get_max_clients_per_uid (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), 0);

  return self->max_clients_per_uid;
}

/**
 * rabc_server_set_max_clients_per_uid:
 * @self: a [class@Rabc.Server]
 * @max_clients_per_uid: the most clients one user may have, from 1 to
 *   %G_MAXINT32
 *
 * Sets [property@Rabc.Server:max-clients-per-uid]. Clients already
 * connected stay, even beyond the new limit.
 */
void
rabc_server_set_max_clients_per_uid (RabcServer *self,
                                     guint       max_clients_per_uid)
{
  g_return_if_fail (RABC_IS_SERVER (self));
  g_return_if_fail (max_clients_per_uid > 0 && max_clients_per_uid <= G_MAXINT32);

  if (self->max_clients_per_uid == max_clients_per_uid)
    return;

  self->max_clients_per_uid = max_clients_per_uid;
  if (self->listen_fd >= 0)
    update_limits (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_CLIENTS_PER_UID]);
}

/**
 * rabc_server_get_max_buffered_bytes:
 * @self: a [class@Rabc.Server]
 *
 * Gets the memory all clients together may hold in the server.
 *
 * Returns: the value of [property@Rabc.Server:max-buffered-bytes]
 */
guint64
rabc_server_get_max_buffered_bytes (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), 0);

  return self->max_buffered_bytes;
}

/**
 * rabc_server_set_max_buffered_bytes:
 * @self: a [class@Rabc.Server]
 * @max_buffered_bytes: the memory all clients together may hold, in
 *   bytes, at least 1
 *
 * Sets [property@Rabc.Server:max-buffered-bytes]. Clients holding more
 * than the new limit in all are disconnected at their next read or write.
 */
void
rabc_server_set_max_buffered_bytes (RabcServer *self,
                                    guint64     max_buffered_bytes)
{
  g_return_if_fail (RABC_IS_SERVER (self));
  g_return_if_fail (max_buffered_bytes > 0);

  if (self->max_buffered_bytes == max_buffered_bytes)
    return;

  self->max_buffered_bytes = max_buffered_bytes;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_BUFFERED_BYTES]);
}

/**
 * rabc_server_get_frame_timeout:
 * @self: a [class@Rabc.Server]
 *
 * Gets how long a client may stay in the middle of a frame without
 * progress.
 *
 * Returns: the value of [property@Rabc.Server:frame-timeout], in
 *   milliseconds
 */
guint
rabc_server_get_frame_timeout (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), 0);

  return self->frame_timeout;
}

/**
 * rabc_server_set_frame_timeout:
 * @self: a [class@Rabc.Server]
 * @frame_timeout: the timeout in milliseconds, at most %G_MAXINT32, or 0
 *   for none
 *
 * Sets [property@Rabc.Server:frame-timeout].
 */
void
rabc_server_set_frame_timeout (RabcServer *self,
                               guint       frame_timeout)
{
  g_return_if_fail (RABC_IS_SERVER (self));
  g_return_if_fail (frame_timeout <= G_MAXINT32);

  if (self->frame_timeout == frame_timeout)
    return;

  self->frame_timeout = frame_timeout;
  arm_stall_timer (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FRAME_TIMEOUT]);
}

/**
 * rabc_server_get_max_pending_requests:
 * @self: a [class@Rabc.Server]
 *
 * Gets the most requests of one client that may wait for an answer.
 *
 * Returns: the value of [property@Rabc.Server:max-pending-requests]
 */
guint
rabc_server_get_max_pending_requests (RabcServer *self)
{
  g_return_val_if_fail (RABC_IS_SERVER (self), 0);

  return self->max_pending_requests;
}

/**
 * rabc_server_set_max_pending_requests:
 * @self: a [class@Rabc.Server]
 * @max_pending_requests: the most requests of one client that may wait
 *   for an answer, from 1 to %G_MAXINT32
 *
 * Sets [property@Rabc.Server:max-pending-requests]. It applies to the
 * clients connected too: those that now have room are read again.
 */
void
rabc_server_set_max_pending_requests (RabcServer *self,
                                      guint       max_pending_requests)
{
  g_autoptr(GPtrArray) entries = NULL;

  g_return_if_fail (RABC_IS_SERVER (self));
  g_return_if_fail (max_pending_requests > 0 && max_pending_requests <= G_MAXINT32);

  if (self->max_pending_requests == max_pending_requests)
    return;

  self->max_pending_requests = max_pending_requests;
  entries = rabc_peer_table_list (&self->peers);
  for (guint i = 0; i < entries->len; i++)
    client_replies_changed (self, ((RabcPeerEntry *) g_ptr_array_index (entries, i))->data);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_PENDING_REQUESTS]);
}
