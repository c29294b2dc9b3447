/* test-utf8.c: the codec's UTF-8 validation against GLib's
 *
 * SPDX-License-Identifier: MIT
 */

#include <string.h>

#include "rabc-test-util.h"
#include "rabc-utf8-private.h"

/* The reference: g_utf8_validate_len(), which stops at a NUL byte, called
 * again after each one, since U+0000 is valid text in the protocol. */
static gboolean
reference (const char *text,
           gsize       len)
{
  while (len > 0)
    {
      const char *end;
      gsize consumed;

      if (g_utf8_validate_len (text, len, &end))
        return TRUE;
      if (*end != '\0')
        return FALSE;
      consumed = (gsize) (end - text) + 1;
      text += consumed;
      len -= consumed;
    }
  return TRUE;
}

static void
check (const guchar *bytes,
       gsize         len)
{
  gboolean expected = reference ((const char *) bytes, len);

  if (rabc_utf8_validate ((const char *) bytes, len) != expected)
    {
      g_autoptr(GString) hex = g_string_new (NULL);

      for (gsize i = 0; i < len; i++)
        g_string_append_printf (hex, " %02x", bytes[i]);
      g_error ("%s:%s: GLib says %s", G_STRFUNC, hex->str, expected ? "valid" : "invalid");
    }
}

/* Every sequence of one to three bytes, alone and after seven bytes of
 * ASCII, so that it is met both by the byte-wise path and after the
 * word-wise one. */
static void
test_utf8_every_short_sequence (void)
{
  guchar buffer[16];

  for (guint a = 0; a < 256; a++)
    {
      buffer[0] = a;
      check (buffer, 1);
      for (guint b = 0; b < 256; b++)
        {
          buffer[1] = b;
          check (buffer, 2);
          for (guint c = 0; c < 256; c++)
            {
              buffer[2] = c;
              check (buffer, 3);
            }
        }
    }

  memset (buffer, 'x', 7);
  for (guint a = 0x80; a < 256; a++)
    for (guint b = 0; b < 256; b++)
      {
        buffer[7] = a;
        buffer[8] = b;
        check (buffer, 9);
        check (buffer, 8);
      }
}

/* Four bytes: every lead byte from 0xf0 up with every second byte, and
 * the third and fourth from a set that crosses each boundary. */
static void
test_utf8_four_byte_sequences (void)
{
  static const guchar tails[] = { 0x00, 0x41, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f,
                                  0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff };
  guchar buffer[4];

  for (guint a = 0xe0; a < 256; a++)
    for (guint b = 0; b < 256; b++)
      for (gsize c = 0; c < G_N_ELEMENTS (tails); c++)
        for (gsize d = 0; d < G_N_ELEMENTS (tails); d++)
          {
            buffer[0] = a;
            buffer[1] = b;
            buffer[2] = tails[c];
            buffer[3] = tails[d];
            check (buffer, 4);
          }
}

/* Valid text of every kind, cut at every position, with NULs and bad
 * bytes put in at random. */
static void
test_utf8_random_texts (void)
{
  static const char *const pieces[] = { "a", "\\0", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                        "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "abcdefgh" };
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);

  for (guint round = 0; round < 20000; round++)
    {
      guchar text[96];
      gsize len = 0;

      while (len < sizeof text - 8)
        {
          const char *piece = pieces[g_rand_int_range (rand, 0, G_N_ELEMENTS (pieces))];
          gsize n = g_str_equal (piece, "\\0") ? 1 : strlen (piece);

          memcpy (text + len, g_str_equal (piece, "\\0") ? "" : piece, n);
          len += n;
        }
      if (round % 2 == 1)
        text[g_rand_int_range (rand, 0, len)] = g_rand_int_range (rand, 0, 256);
      for (gsize cut = 0; cut <= len; cut++)
        check (text, cut);
    }
}

/* Sequences good and bad at every position of a long ASCII text, and the
 * text cut at every position around them, so that each is met by the
 * paths that take 64 bytes (with SSE2), 32 bytes, 8 bytes and one byte at
 * a time, in the first block and in later ones, at every alignment. */
static void
test_utf8_in_long_ascii (void)
{
  static const char *const sequences[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                           "\x80", "\xc3", "\xe2\x82", "\xed\xa0\x80",
                                           "\xf4\x90\x80\x80", "\xc0\x80", "\xff" };
  guchar text[200];

  for (gsize s = 0; s < G_N_ELEMENTS (sequences); s++)
    {
      gsize n = strlen (sequences[s]);

      for (gsize at = 0; at + n <= sizeof text; at++)
        {
          memset (text, 'a', sizeof text);
          memcpy (text + at, sequences[s], n);
          for (gsize cut = at; cut <= sizeof text; cut++)
            check (text, cut);
          /* And after it, ASCII at every length. */
          check (text + at, sizeof text - at);
        }
    }
}

/* An empty message may have no buffer at all. */
static void
test_utf8_empty (void)
{
  g_assert_true (rabc_utf8_validate (NULL, 0));
  g_assert_true (rabc_utf8_validate ("", 0));
  g_assert_true (rabc_utf8_validate ("\xff", 0));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/utf8/empty", test_utf8_empty);
  g_test_add_func ("/rabc/utf8/in-long-ascii", test_utf8_in_long_ascii);
  g_test_add_func ("/rabc/utf8/every-short-sequence", test_utf8_every_short_sequence);
  g_test_add_func ("/rabc/utf8/four-byte-sequences", test_utf8_four_byte_sequences);
  g_test_add_func ("/rabc/utf8/random-texts", test_utf8_random_texts);

  return g_test_run ();
}
