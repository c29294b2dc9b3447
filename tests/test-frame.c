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
   * twice that, and never more than the frame. */
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
      g_assert_cmpuint (allocated, <=, len);
      g_assert_cmpuint (rabc_frame_decoder_get_missing (&decoder), ==, len - fed);
    }
  g_assert_no_error (error);

  /* Delivered whole, and the buffer went with it. */
  g_assert_cmpuint (collector.messages->len, ==, 1);
  assert_message (&collector, 0, text, len);
  g_assert_true (rabc_frame_decoder_is_idle (&decoder));
  g_assert_cmpuint (rabc_frame_decoder_get_allocated (&decoder), ==, 0);
  g_assert_cmpuint (rabc_frame_decoder_get_missing (&decoder), ==, 0);

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

  return g_test_run ();
}
