/* test-frame.c: the wire codec
 *
 * SPDX-License-Identifier: MIT
 */

#include <string.h>

#include "rabc-frame-private.h"
#include "rabc-test-util.h"

typedef struct {
  GPtrArray *messages;
  guint      stop_after;
} Collector;

static gboolean
collect (const char *text,
         gsize       len,
         gpointer    user_data)
{
  Collector *collector = user_data;

  g_ptr_array_add (collector->messages, g_bytes_new (text, len));
  return collector->stop_after == 0 || collector->messages->len < collector->stop_after;
}

static void
collector_init (Collector *collector)
{
  collector->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  collector->stop_after = 0;
}

static void
assert_message (Collector  *collector,
                guint       index,
                const char *text,
                gsize       len)
{
  GBytes *bytes;

  g_assert_cmpuint (index, <, collector->messages->len);
  bytes = g_ptr_array_index (collector->messages, index);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), text, len);
}

static GByteArray *
encode_all (const char * const *texts)
{
  GByteArray *out = g_byte_array_new ();

  for (guint i = 0; texts[i] != NULL; i++)
    rabc_frame_encode (out, texts[i], strlen (texts[i]));
  return out;
}

static void
test_frame_layout (void)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  guint64 len;

  rabc_frame_encode (out, "pong", 4);
  g_assert_cmpuint (out->len, ==, 12);
  memcpy (&len, out->data, sizeof len);   /* host byte order */
  g_assert_cmpuint (len, ==, 4);
  g_assert_cmpmem (out->data + 8, 4, "pong", 4);
}

static void
test_frame_every_split (void)
{
  const char *texts[] = { "ping", "", "h\xc3\xa9llo \xe2\x9c\x93", "pong", NULL };
  g_autoptr(GByteArray) wire = encode_all (texts);

  /* Every split point, in two pieces and in three. */
  for (guint i = 0; i <= wire->len; i++)
    for (guint j = i; j <= wire->len; j++)
      {
        g_autoptr(GError) error = NULL;
        RabcFrameDecoder decoder;
        Collector collector;

        collector_init (&collector);
        rabc_frame_decoder_init (&decoder, 1024);
        g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data, i, collect, &collector, &error));
        g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data + i, j - i, collect, &collector, &error));
        g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data + j, wire->len - j, collect, &collector, &error));
        g_assert_no_error (error);
        g_assert_true (rabc_frame_decoder_is_idle (&decoder));

        g_assert_cmpuint (collector.messages->len, ==, 4);
        for (guint k = 0; texts[k] != NULL; k++)
          assert_message (&collector, k, texts[k], strlen (texts[k]));

        rabc_frame_decoder_clear (&decoder);
        g_ptr_array_unref (collector.messages);
      }
}

static void
test_frame_byte_at_a_time (void)
{
  const char *texts[] = { "one", "two", "", "three", NULL };
  g_autoptr(GByteArray) wire = encode_all (texts);
  g_autoptr(GError) error = NULL;
  RabcFrameDecoder decoder;
  Collector collector;

  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, 1024);
  for (guint i = 0; i < wire->len; i++)
    {
      g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data + i, 1, collect, &collector, &error));
      /* Idle exactly at frame boundaries. */
      if (i + 1 < wire->len)
        g_assert_true (rabc_frame_decoder_is_idle (&decoder) ==
                       (i + 1 == 11 || i + 1 == 22 || i + 1 == 30));
    }
  g_assert_no_error (error);
  g_assert_cmpuint (collector.messages->len, ==, 4);
  assert_message (&collector, 3, "three", 5);

  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

/* A header announces a frame: nothing is allocated for it until its bytes
 * arrive, and then never much more than what arrived. */
static void
test_frame_grows_as_bytes_arrive (void)
{
  const gsize len = 1024 * 1024 - 1;
  g_autofree char *text = g_malloc (len);
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  g_autoptr(GError) error = NULL;
  guint64 header = len;
  RabcFrameDecoder decoder;
  Collector collector;
  gsize fed = 0;

  for (gsize i = 0; i < len; i++)
    text[i] = 'a' + i % 26;

  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, 1024 * 1024);
  g_assert_true (rabc_frame_decoder_feed (&decoder, (const guint8 *) &header, sizeof header,
                                          collect, &collector, &error));
  g_assert_false (rabc_frame_decoder_is_idle (&decoder));
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);
  g_assert_cmpuint (rabc_frame_decoder_get_missing (&decoder), ==, len);

  /* Pieces of 1 byte to 8 KiB: the buffer holds what came, less than
   * twice that, and never more than the frame with its header. */
  while (fed < len)
    {
      gsize piece = MIN (len - fed, (gsize) g_rand_int_range (rand, 1, 8193));
      gsize allocated;

      g_assert_true (rabc_frame_decoder_feed (&decoder, (const guint8 *) text + fed, piece,
                                              collect, &collector, &error));
      fed += piece;
      if (fed == len)
        break;
      allocated = rabc_frame_decoder_get_allocated (&decoder);
      g_assert_cmpuint (allocated, >=, fed);
      g_assert_cmpuint (allocated, <, 2 * fed);
      g_assert_cmpuint (allocated, <=, RABC_FRAME_HEADER_SIZE + len);
      g_assert_cmpuint (rabc_frame_decoder_get_missing (&decoder), ==, len - fed);
    }
  g_assert_no_error (error);

  /* Delivered whole; the buffer is kept for the round, and given back
   * after a round that took no frame of its size. */
  g_assert_cmpuint (collector.messages->len, ==, 1);
  assert_message (&collector, 0, text, len);
  g_assert_true (rabc_frame_decoder_is_idle (&decoder));
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, RABC_FRAME_HEADER_SIZE + len);
  g_assert_cmpuint (rabc_frame_decoder_get_missing (&decoder), ==, 0);
  rabc_frame_decoder_end_round (&decoder);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, RABC_FRAME_HEADER_SIZE + len);
  rabc_frame_decoder_end_round (&decoder);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);

  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

static void
test_frame_many_per_read (void)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  RabcFrameDecoder decoder;
  Collector collector;

  for (guint i = 0; i < 10000; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", i);
      rabc_frame_encode (wire, text, strlen (text));
    }

  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, 1024);
  g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data, wire->len, collect, &collector, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (collector.messages->len, ==, 10000);
  assert_message (&collector, 0, "message 0", 9);
  assert_message (&collector, 9999, "message 9999", 12);

  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

static void
test_frame_zero_length (void)
{
  const guint8 wire[16] = { 0 };   /* two empty frames */
  g_autoptr(GError) error = NULL;
  RabcFrameDecoder decoder;
  Collector collector;

  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, 1024);
  g_assert_true (rabc_frame_decoder_feed (&decoder, wire, sizeof wire, collect, &collector, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (collector.messages->len, ==, 2);
  assert_message (&collector, 1, "", 0);

  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

/* Feeds one frame of @len bytes of 'a' to a decoder whose maximum is @max. */
static gboolean
decode_sized (gsize    len,
              gsize    max,
              GError **error)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autofree char *text = g_malloc (len);
  RabcFrameDecoder decoder;
  Collector collector;
  gboolean ok;

  memset (text, 'a', len);
  rabc_frame_encode (wire, text, len);
  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, max);
  ok = rabc_frame_decoder_feed (&decoder, wire->data, wire->len, collect, &collector, error);
  if (ok)
    g_assert_cmpuint (collector.messages->len, ==, 1);
  else
    g_assert_cmpuint (collector.messages->len, ==, 0);
  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
  return ok;
}

static void
test_frame_max_size (void)
{
  const gsize max = 1048576;
  g_autoptr(GError) error = NULL;

  g_assert_true (decode_sized (max - 1, max, &error));
  g_assert_no_error (error);

  g_assert_false (decode_sized (max, max, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
  g_assert_nonnull (strstr (error->message, "1048576"));
  g_clear_error (&error);

  g_assert_false (decode_sized (max + 1, max, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
  g_assert_cmpstr (error->message, ==, "message of 1048577 bytes exceeds the maximum of 1048576");
}

static void
test_frame_huge_header (void)
{
  guint64 header = G_GUINT64_CONSTANT (1) << 63;
  g_autoptr(GError) error = NULL;
  RabcFrameDecoder decoder;
  Collector collector;

  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, 1048576);
  g_assert_false (rabc_frame_decoder_feed (&decoder, (const guint8 *) &header, sizeof header,
                                           collect, &collector, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
  g_assert_cmpuint (collector.messages->len, ==, 0);
  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

static void
test_frame_invalid_utf8 (void)
{
  const char *bad[] = { "\xff", "ab\xc3", "\xc0\xaf", "\xed\xa0\x80", "ok\x80ok" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GByteArray) wire = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      RabcFrameDecoder decoder;
      Collector collector;

      rabc_frame_encode (wire, bad[i], strlen (bad[i]));
      collector_init (&collector);
      rabc_frame_decoder_init (&decoder, 1024);
      /* Split, so the collected path is checked too. */
      g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data, 8, collect, &collector, &error));
      g_assert_false (rabc_frame_decoder_feed (&decoder, wire->data + 8, wire->len - 8,
                                               collect, &collector, &error));
      g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_DATA);
      g_assert_cmpuint (collector.messages->len, ==, 0);
      rabc_frame_decoder_clear (&decoder);
      g_ptr_array_unref (collector.messages);
    }
}

static void
test_frame_nul_is_text (void)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  RabcFrameDecoder decoder;
  Collector collector;

  rabc_frame_encode (wire, "a\0b", 3);
  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, 1024);
  g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data, wire->len, collect, &collector, &error));
  g_assert_no_error (error);
  assert_message (&collector, 0, "a\0b", 3);
  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

static void
test_frame_stop (void)
{
  const char *texts[] = { "a", "b", "c", NULL };
  g_autoptr(GByteArray) wire = encode_all (texts);
  g_autoptr(GError) error = NULL;
  RabcFrameDecoder decoder;
  Collector collector;

  collector_init (&collector);
  collector.stop_after = 2;
  rabc_frame_decoder_init (&decoder, 1024);
  g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data, wire->len, collect, &collector, &error));
  g_assert_cmpuint (collector.messages->len, ==, 2);
  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

static void
test_frame_check (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (rabc_frame_check ("ping", 4, 5, &error));
  g_assert_no_error (error);
  g_assert_false (rabc_frame_check ("ping", 4, 4, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
  g_clear_error (&error);
  g_assert_false (rabc_frame_check ("\xfe", 1, 1024, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_DATA);
}

/* Gives @len bytes of @data to @decoder as a connection does: received
 * straight into the decoder's buffer wherever it offers room, in reads of
 * at most @read_size, and fed from here otherwise.  Returns how many of
 * the bytes went straight into the buffer. */
static gsize
give_in_place (RabcFrameDecoder *decoder,
               const guint8     *data,
               gsize             len,
               gsize             read_size,
               Collector        *collector)
{
  g_autoptr(GError) error = NULL;
  gsize in_place = 0;

  while (len > 0)
    {
      gsize max = MIN (len, read_size);
      gsize room = 0;
      guint8 *to = rabc_frame_decoder_get_room (decoder, max, &room);

      if (to == NULL)
        {
          g_assert_true (rabc_frame_decoder_feed (decoder, data, max, collect, collector, &error));
          g_assert_no_error (error);
          data += max;
          len -= max;
          continue;
        }

      g_assert_cmpuint (room, >=, 1);
      g_assert_cmpuint (room, <=, max);
      memcpy (to, data, room);
      g_assert_true (rabc_frame_decoder_received (decoder, room, collect, collector, &error));
      g_assert_no_error (error);
      data += room;
      len -= room;
      in_place += room;
    }
  return in_place;
}

static char *
make_text (gsize len,
           char  first)
{
  char *text = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    text[i] = first + i % 26;
  text[len] = '\0';
  return text;
}

/* A long frame, short ones and a second long frame, split in two at every
 * position, the header bytes included, then received in place in reads of
 * several sizes, with a round ended at the split: every message comes out
 * whole and in order. */
static void
test_frame_in_place_every_split (void)
{
  g_autofree char *first = make_text (3000, 'a');
  g_autofree char *second = make_text (2500, 'A');
  const char *texts[] = { first, "ping", "", "h\xc3\xa9llo", second, "pong", NULL };
  g_autoptr(GByteArray) wire = encode_all (texts);
  const gsize read_sizes[] = { 1, 7, 8, 100, 4096, 65536 };

  for (guint r = 0; r < G_N_ELEMENTS (read_sizes); r++)
    for (gsize i = 0; i <= wire->len; i++)
      {
        RabcFrameDecoder decoder;
        Collector collector;

        collector_init (&collector);
        rabc_frame_decoder_init (&decoder, 1024 * 1024);
        give_in_place (&decoder, wire->data, i, read_sizes[r], &collector);
        rabc_frame_decoder_end_round (&decoder);
        give_in_place (&decoder, wire->data + i, wire->len - i, read_sizes[r], &collector);
        rabc_frame_decoder_end_round (&decoder);

        g_assert_true (rabc_frame_decoder_is_idle (&decoder));
        g_assert_cmpuint (collector.messages->len, ==, g_strv_length ((char **) texts));
        for (guint k = 0; texts[k] != NULL; k++)
          assert_message (&collector, k, texts[k], strlen (texts[k]));

        rabc_frame_decoder_clear (&decoder);
        g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);
        g_ptr_array_unref (collector.messages);
      }
}

typedef struct {
  const char *text;
  gsize       len;
  guint       n;
} Seen;

static gboolean
see (const char *text,
     gsize       len,
     gpointer    user_data)
{
  Seen *seen = user_data;

  seen->text = text;
  seen->len = len;
  seen->n++;
  return TRUE;
}

/* Once a frame's length is known and some of it has come, the rest is
 * received straight into the buffer it is delivered from; the next long
 * frame, header and all, lands in that same buffer. */
static void
test_frame_in_place_final_buffer (void)
{
  const gsize len = 64 * 1024;
  g_autofree char *text = make_text (len, 'a');
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  RabcFrameDecoder decoder;
  Seen seen = { 0 };
  guint8 *buffer;
  guint8 *room;
  gsize n, allocated;

  rabc_frame_encode (wire, text, len);
  rabc_frame_decoder_init (&decoder, 1024 * 1024);

  /* A header alone: nothing to receive into yet, and nothing held. */
  g_assert_null (rabc_frame_decoder_get_room (&decoder, 4096, &n));
  g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data, RABC_FRAME_HEADER_SIZE,
                                          see, &seen, &error));
  g_assert_null (rabc_frame_decoder_get_room (&decoder, 4096, &n));
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);

  /* 1000 bytes fed: then the room is right after them, at most twice
   * what came, and the frame is delivered from there. */
  g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data + RABC_FRAME_HEADER_SIZE, 1000,
                                          see, &seen, &error));
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 1000);
  buffer = NULL;
  for (gsize filled = 1000; filled < len; filled += n)
    {
      room = rabc_frame_decoder_get_room (&decoder, len, &n);
      g_assert_nonnull (room);
      g_assert_cmpuint (n, <=, filled);
      g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), <=, 2 * filled);
      g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), <=, RABC_FRAME_HEADER_SIZE + len);
      memcpy (room, wire->data + RABC_FRAME_HEADER_SIZE + filled, n);
      buffer = room - filled;
      g_assert_true (rabc_frame_decoder_received (&decoder, n, see, &seen, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (seen.n, ==, 1);
  g_assert_true ((const guint8 *) seen.text == buffer);
  g_assert_cmpmem (seen.text, seen.len, text, len);
  rabc_frame_decoder_end_round (&decoder);

  /* Kept: the next frame is received whole into it, header first, and
   * delivered where it landed, without growing it. */
  allocated = rabc_frame_decoder_get_allocated (&decoder);
  g_assert_cmpuint (allocated, ==, RABC_FRAME_HEADER_SIZE + len);
  text[0] = 'z';
  g_byte_array_set_size (wire, 0);
  rabc_frame_encode (wire, text, len);
  for (gsize filled = 0; filled < wire->len; filled += n)
    {
      gsize want = MIN (wire->len - filled, (gsize) 16 * 1024);

      room = rabc_frame_decoder_get_room (&decoder, want, &n);
      g_assert_nonnull (room);
      if (filled == 0)
        buffer = room;
      g_assert_true (room == buffer + filled);
      memcpy (room, wire->data + filled, n);
      g_assert_true (rabc_frame_decoder_received (&decoder, n, see, &seen, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (seen.n, ==, 2);
  g_assert_true ((const guint8 *) seen.text == buffer + RABC_FRAME_HEADER_SIZE);
  g_assert_cmpmem (seen.text, seen.len, text, len);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, allocated);

  rabc_frame_decoder_clear (&decoder);
}

/* The buffer of a long frame is kept while frames of its size go on, and
 * given back after a round without one, when a much shorter frame is
 * split, or on request between frames (not in the middle of one). */
static void
test_frame_buffer_kept (void)
{
  const gsize len = 64 * 1024;
  g_autofree char *text = make_text (len, 'a');
  g_autoptr(GByteArray) long_wire = g_byte_array_new ();
  g_autoptr(GByteArray) short_wire = g_byte_array_new ();
  RabcFrameDecoder decoder;
  Collector collector;
  gsize in_place;

  rabc_frame_encode (long_wire, text, len);
  rabc_frame_encode (short_wire, "ping", 4);
  rabc_frame_encode (short_wire, "pong", 4);
  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, 1024 * 1024);

  /* The first long frame: read from a chunk of the caller's at first. */
  in_place = give_in_place (&decoder, long_wire->data, long_wire->len, 4096, &collector);
  g_assert_cmpuint (in_place, >, 0);
  g_assert_cmpuint (in_place, <, long_wire->len);
  rabc_frame_decoder_end_round (&decoder);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), >=, len);

  /* Rounds of long frames keep it, and go all in place. */
  for (guint i = 0; i < 3; i++)
    {
      in_place = give_in_place (&decoder, long_wire->data, long_wire->len, 4096, &collector);
      g_assert_cmpuint (in_place, ==, long_wire->len);
      rabc_frame_decoder_end_round (&decoder);
      g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), >=, len);
    }

  /* Short frames in a round: received in the kept buffer, which the end
   * of the round gives back. */
  give_in_place (&decoder, short_wire->data, short_wire->len, 4096, &collector);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), >=, len);
  rabc_frame_decoder_end_round (&decoder);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);

  /* A round that is only the middle of a long frame keeps it. */
  give_in_place (&decoder, long_wire->data, 20000, 4096, &collector);
  rabc_frame_decoder_end_round (&decoder);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), >=, 20000 - RABC_FRAME_HEADER_SIZE);
  give_in_place (&decoder, long_wire->data + 20000, long_wire->len - 20000, 4096, &collector);
  rabc_frame_decoder_end_round (&decoder);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), >=, len);

  /* A short frame split across reads after a long one: it moves to a
   * buffer of its own size, as it would with none kept, which is not
   * given back in the middle of the frame. */
  give_in_place (&decoder, short_wire->data, RABC_FRAME_HEADER_SIZE + 2, 4096, &collector);
  g_assert_cmpuint (rabc_frame_decoder_get_missing (&decoder), ==, 2);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), <=, 4);
  g_assert_false (rabc_frame_decoder_release (&decoder));
  rabc_frame_decoder_end_round (&decoder);
  give_in_place (&decoder, short_wire->data + RABC_FRAME_HEADER_SIZE + 2,
                 short_wire->len - RABC_FRAME_HEADER_SIZE - 2, 4096, &collector);
  g_assert_true (rabc_frame_decoder_is_idle (&decoder));
  assert_message (&collector, collector.messages->len - 2, "ping", 4);
  assert_message (&collector, collector.messages->len - 1, "pong", 4);
  rabc_frame_decoder_end_round (&decoder);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);

  /* Released on request between frames. */
  give_in_place (&decoder, long_wire->data, long_wire->len, 4096, &collector);
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), >, 0);
  g_assert_true (rabc_frame_decoder_release (&decoder));
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);
  g_assert_false (rabc_frame_decoder_release (&decoder));

  for (guint i = 0; i < collector.messages->len; i++)
    {
      gsize size = g_bytes_get_size (collector.messages->pdata[i]);

      g_assert_true (size == len || size == 4);
    }
  g_assert_cmpuint (collector.messages->len, ==, 1 + 3 + 2 + 1 + 2 + 1);

  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

/* Headers received into a kept buffer meet the same maximum: one byte
 * short of it passes, the maximum itself is refused. */
static void
test_frame_in_place_max_size (void)
{
  const gsize max = 8192;
  g_autofree char *text = make_text (max, 'a');

  for (gsize len = max - 1; len <= max; len++)
    {
      g_autoptr(GByteArray) wire = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      RabcFrameDecoder decoder;
      Collector collector;
      guint8 *room;
      gsize n;

      collector_init (&collector);
      rabc_frame_decoder_init (&decoder, max);
      rabc_frame_encode (wire, text, max - 1);
      give_in_place (&decoder, wire->data, wire->len, 1024, &collector);
      g_assert_cmpuint (collector.messages->len, ==, 1);
      g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), >, 0);

      g_byte_array_set_size (wire, 0);
      {
        guint8 header[RABC_FRAME_HEADER_SIZE];

        rabc_frame_write_header (header, len);
        g_byte_array_append (wire, header, sizeof header);
        g_byte_array_append (wire, (const guint8 *) text, 100);
      }
      room = rabc_frame_decoder_get_room (&decoder, wire->len, &n);
      g_assert_nonnull (room);
      g_assert_cmpuint (n, ==, wire->len);
      memcpy (room, wire->data, n);
      if (len < max)
        {
          g_assert_true (rabc_frame_decoder_received (&decoder, n, collect, &collector, &error));
          g_assert_no_error (error);
          g_assert_cmpuint (rabc_frame_decoder_get_missing (&decoder), ==, len - 100);
        }
      else
        {
          g_assert_false (rabc_frame_decoder_received (&decoder, n, collect, &collector, &error));
          g_assert_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
        }
      g_assert_cmpuint (collector.messages->len, ==, 1);

      rabc_frame_decoder_clear (&decoder);
      g_ptr_array_unref (collector.messages);
    }
}


/* Whole frames where they lie, for every place the input may end: the
 * unfinished frame stays the caller's, with its size once its header is
 * whole, and handed back from the decoder it is the same bytes. */
static void
test_frame_whole_every_end (void)
{
  const char *texts[] = { "ping", "", "h\xc3\xa9llo \xe2\x9c\x93", "pong", NULL };
  g_autoptr(GByteArray) wire = encode_all (texts);

  for (guint end = 0; end <= wire->len; end++)
    {
      g_autoptr(GError) error = NULL;
      RabcFrameDecoder decoder;
      Collector collector;
      guint8 held[64];
      gsize used, next, start = 0, n_whole = 0;

      collector_init (&collector);
      rabc_frame_decoder_init (&decoder, 1024);
      g_assert_true (rabc_frame_decoder_feed_whole (&decoder, wire->data, end, collect, &collector,
                                                    &used, &next, &error));
      g_assert_no_error (error);

      /* The frames that end by @end, and the one after them. */
      for (guint i = 0; texts[i] != NULL; i++)
        {
          gsize size = RABC_FRAME_HEADER_SIZE + strlen (texts[i]);

          if (start + size > end)
            {
              g_assert_cmpuint (next, ==, end - start >= RABC_FRAME_HEADER_SIZE ? size : 0);
              break;
            }
          assert_message (&collector, i, texts[i], strlen (texts[i]));
          start += size;
          n_whole++;
        }
      g_assert_cmpuint (collector.messages->len, ==, n_whole);
      g_assert_cmpuint (used, ==, start);
      if (used == end)
        g_assert_cmpuint (next, ==, 0);
      g_assert_true (rabc_frame_decoder_is_idle (&decoder));

      /* Fed instead, then taken back. */
      g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data + used, end - used, collect,
                                              &collector, &error));
      g_assert_cmpuint (collector.messages->len, ==, n_whole);
      g_assert_cmpuint (rabc_frame_decoder_take_partial (&decoder, held, sizeof held), ==,
                        end - used);
      g_assert_cmpmem (held, end - used, wire->data + used, end - used);
      g_assert_true (rabc_frame_decoder_is_idle (&decoder));
      g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);

      rabc_frame_decoder_clear (&decoder);
      g_ptr_array_unref (collector.messages);
    }
}

/* A frame larger than the caller's room stays with the decoder; a header
 * over the limit is refused before its frame; a stop uses up the input. */
static void
test_frame_whole_limits (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  RabcFrameDecoder decoder;
  Collector collector;
  guint8 held[16];
  gsize used, next;

  collector_init (&collector);
  rabc_frame_decoder_init (&decoder, 1024);
  rabc_frame_encode (wire, "a longer message", 16);
  g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data, 12, collect, &collector, &error));
  g_assert_cmpuint (rabc_frame_decoder_get_frame_size (&decoder), ==, 24);
  g_assert_cmpuint (rabc_frame_decoder_take_partial (&decoder, held, sizeof held), ==, 0);
  g_assert_false (rabc_frame_decoder_is_idle (&decoder));
  g_assert_cmpuint (rabc_frame_decoder_get_missing (&decoder), ==, 12);
  g_assert_true (rabc_frame_decoder_feed (&decoder, wire->data + 12, 12, collect, &collector, &error));
  assert_message (&collector, 0, "a longer message", 16);
  g_assert_cmpuint (rabc_frame_decoder_get_frame_size (&decoder), ==, 0);

  g_byte_array_set_size (wire, 0);
  rabc_frame_encode (wire, "ok", 2);
  rabc_frame_encode (wire, "ok", 2);
  collector.stop_after = 2;
  g_assert_true (rabc_frame_decoder_feed_whole (&decoder, wire->data, wire->len, collect,
                                                &collector, &used, &next, &error));
  g_assert_cmpuint (used, ==, wire->len);
  g_assert_cmpuint (collector.messages->len, ==, 2);

  {
    guint64 huge = 1025;

    g_assert_false (rabc_frame_decoder_feed_whole (&decoder, (const guint8 *) &huge, sizeof huge,
                                                   collect, &collector, &used, &next, &error));
    g_assert_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE);
  }

  rabc_frame_decoder_clear (&decoder);
  g_ptr_array_unref (collector.messages);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/frame/layout", test_frame_layout);
  g_test_add_func ("/rabc/frame/every-split", test_frame_every_split);
  g_test_add_func ("/rabc/frame/byte-at-a-time", test_frame_byte_at_a_time);
  g_test_add_func ("/rabc/frame/grows-as-bytes-arrive", test_frame_grows_as_bytes_arrive);
  g_test_add_func ("/rabc/frame/many-per-read", test_frame_many_per_read);
  g_test_add_func ("/rabc/frame/zero-length", test_frame_zero_length);
  g_test_add_func ("/rabc/frame/max-size", test_frame_max_size);
  g_test_add_func ("/rabc/frame/huge-header", test_frame_huge_header);
  g_test_add_func ("/rabc/frame/invalid-utf8", test_frame_invalid_utf8);
  g_test_add_func ("/rabc/frame/nul-is-text", test_frame_nul_is_text);
  g_test_add_func ("/rabc/frame/stop", test_frame_stop);
  g_test_add_func ("/rabc/frame/check", test_frame_check);
  g_test_add_func ("/rabc/frame/in-place-every-split", test_frame_in_place_every_split);
  g_test_add_func ("/rabc/frame/in-place-final-buffer", test_frame_in_place_final_buffer);
  g_test_add_func ("/rabc/frame/buffer-kept", test_frame_buffer_kept);
  g_test_add_func ("/rabc/frame/in-place-max-size", test_frame_in_place_max_size);
  g_test_add_func ("/rabc/frame/whole-every-end", test_frame_whole_every_end);
  g_test_add_func ("/rabc/frame/whole-limits", test_frame_whole_limits);

  return g_test_run ();
}
