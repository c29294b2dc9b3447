/* test-reply-queue.c: the replies a server owes one connection
 *
 * SPDX-License-Identifier: MIT
 */

#include <string.h>

#include "rabc-reply-queue-private.h"

static GBytes *
text_bytes (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

/* Pops the front, which must be answered with @expected (NULL: the
 * owner's default). */
static void
assert_pop (RabcReplyQueue *queue,
            const char     *expected)
{
  GBytes *reply = (GBytes *) (gpointer) &reply;   /* a pointer pop must overwrite */

  g_assert_true (rabc_reply_queue_pop (queue, &reply));
  if (expected == NULL)
    {
      g_assert_null (reply);
      return;
    }
  g_assert_nonnull (reply);
  g_assert_cmpmem (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply),
                   expected, strlen (expected));
  g_bytes_unref (reply);
}

static void
assert_no_pop (RabcReplyQueue *queue)
{
  GBytes *reply = NULL;

  g_assert_false (rabc_reply_queue_pop (queue, &reply));
  g_assert_null (reply);
}

static void
test_empty (void)
{
  RabcReplyQueue queue;

  rabc_reply_queue_init (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_length (&queue), ==, 0);
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 0);
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 0);
  g_assert_false (rabc_reply_queue_is_front (&queue, 0));
  g_assert_false (rabc_reply_queue_take (&queue, 0));
  g_assert_false (rabc_reply_queue_answer (&queue, 0, NULL));
  assert_no_pop (&queue);
  rabc_reply_queue_clear (&queue);
  rabc_reply_queue_clear (&queue);
}

static void
test_in_order (void)
{
  g_autoptr(GBytes) one = text_bytes ("one");
  g_autoptr(GBytes) two = text_bytes ("two");
  RabcReplyQueue queue;

  rabc_reply_queue_init (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_next_seq (&queue), ==, 0);
  g_assert_cmpuint (rabc_reply_queue_push (&queue, 5), ==, 0);
  g_assert_cmpuint (rabc_reply_queue_get_next_seq (&queue), ==, 1);
  g_assert_cmpuint (rabc_reply_queue_push (&queue, 7), ==, 1);
  g_assert_cmpuint (rabc_reply_queue_push (&queue, 9), ==, 2);
  g_assert_cmpuint (rabc_reply_queue_get_length (&queue), ==, 3);
  g_assert_true (rabc_reply_queue_is_front (&queue, 0));
  g_assert_false (rabc_reply_queue_is_front (&queue, 1));
  assert_no_pop (&queue);

  g_assert_true (rabc_reply_queue_answer (&queue, 0, one));
  g_assert_false (rabc_reply_queue_is_front (&queue, 1));
  assert_pop (&queue, "one");
  g_assert_true (rabc_reply_queue_is_front (&queue, 1));
  g_assert_false (rabc_reply_queue_is_front (&queue, 0));

  g_assert_true (rabc_reply_queue_answer (&queue, 1, two));
  g_assert_true (rabc_reply_queue_answer (&queue, 2, NULL));
  assert_pop (&queue, "two");
  assert_pop (&queue, NULL);
  assert_no_pop (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_length (&queue), ==, 0);
  g_assert_false (rabc_reply_queue_is_front (&queue, 2));
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 0);

  /* Numbers go on from where they were once the queue emptied. */
  g_assert_cmpuint (rabc_reply_queue_get_next_seq (&queue), ==, 3);
  g_assert_cmpuint (rabc_reply_queue_push (&queue, 1), ==, 3);
  g_assert_true (rabc_reply_queue_is_front (&queue, 3));
  rabc_reply_queue_clear (&queue);
}

static void
test_out_of_order (void)
{
  g_autoptr(GBytes) a = text_bytes ("A");
  g_autoptr(GBytes) b = text_bytes ("B");
  g_autoptr(GBytes) c = text_bytes ("C");
  RabcReplyQueue queue;

  rabc_reply_queue_init (&queue);
  for (guint i = 0; i < 3; i++)
    rabc_reply_queue_push (&queue, 1);

  /* The last answered first waits for the two before it. */
  g_assert_true (rabc_reply_queue_answer (&queue, 2, c));
  assert_no_pop (&queue);
  g_assert_true (rabc_reply_queue_answer (&queue, 0, a));
  assert_pop (&queue, "A");
  assert_no_pop (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_length (&queue), ==, 2);
  g_assert_true (rabc_reply_queue_answer (&queue, 1, b));
  assert_pop (&queue, "B");
  assert_pop (&queue, "C");
  assert_no_pop (&queue);
  rabc_reply_queue_clear (&queue);
}

static void
test_answer_once (void)
{
  g_autoptr(GBytes) first = text_bytes ("first");
  g_autoptr(GBytes) second = text_bytes ("second");
  RabcReplyQueue queue;
  guint64 seq;

  rabc_reply_queue_init (&queue);
  seq = rabc_reply_queue_push (&queue, 3);
  rabc_reply_queue_push (&queue, 3);
  g_assert_true (rabc_reply_queue_answer (&queue, seq, first));
  g_assert_false (rabc_reply_queue_answer (&queue, seq, second));
  g_assert_false (rabc_reply_queue_answer (&queue, seq, NULL));
  /* Beyond the back: no such request. */
  g_assert_false (rabc_reply_queue_answer (&queue, seq + 2, NULL));
  g_assert_false (rabc_reply_queue_take (&queue, seq + 2));

  assert_pop (&queue, "first");
  /* Gone from the front: neither answered nor taken again. */
  g_assert_false (rabc_reply_queue_answer (&queue, seq, second));
  g_assert_false (rabc_reply_queue_take (&queue, seq));
  g_assert_cmpuint (rabc_reply_queue_get_length (&queue), ==, 1);
  rabc_reply_queue_clear (&queue);
}

static void
test_taken (void)
{
  g_autoptr(GBytes) reply = text_bytes ("r");
  RabcReplyQueue queue;

  rabc_reply_queue_init (&queue);
  for (guint i = 0; i < 4; i++)
    rabc_reply_queue_push (&queue, 1);

  g_assert_true (rabc_reply_queue_take (&queue, 1));
  g_assert_false (rabc_reply_queue_take (&queue, 1));
  g_assert_true (rabc_reply_queue_take (&queue, 3));
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 2);

  /* A request answered without being taken counts for nothing... */
  g_assert_true (rabc_reply_queue_answer (&queue, 0, NULL));
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 2);
  /* ...and an answered one cannot be taken any more. */
  g_assert_true (rabc_reply_queue_answer (&queue, 2, NULL));
  g_assert_false (rabc_reply_queue_take (&queue, 2));
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 2);

  g_assert_true (rabc_reply_queue_answer (&queue, 3, reply));
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 1);
  /* Popping does not touch the count: the front was never taken. */
  assert_pop (&queue, NULL);
  assert_no_pop (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 1);

  g_assert_true (rabc_reply_queue_answer (&queue, 1, NULL));
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 0);
  assert_pop (&queue, NULL);
  assert_pop (&queue, NULL);
  assert_pop (&queue, "r");
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 0);

  /* Clearing forgets the taken ones too. */
  rabc_reply_queue_take (&queue, rabc_reply_queue_push (&queue, 1));
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 1);
  rabc_reply_queue_clear (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 0);
}

static void
test_held_bytes (void)
{
  g_autoptr(GBytes) long_reply = text_bytes ("a reply of 24 bytes.....");
  g_autoptr(GBytes) short_reply = text_bytes ("ok");
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  RabcReplyQueue queue;

  g_assert_cmpuint (g_bytes_get_size (long_reply), ==, 24);

  rabc_reply_queue_init (&queue);
  rabc_reply_queue_push (&queue, 100);
  rabc_reply_queue_push (&queue, 10);
  rabc_reply_queue_push (&queue, 1000);
  rabc_reply_queue_push (&queue, 50);
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 1160);

  /* An answer replaces the request's bytes with its reply's... */
  g_assert_true (rabc_reply_queue_answer (&queue, 1, long_reply));
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 100 + 24 + 1000 + 50);
  /* ...the default reply holds nothing here, nor does an empty one... */
  g_assert_true (rabc_reply_queue_answer (&queue, 2, NULL));
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 100 + 24 + 50);
  g_assert_true (rabc_reply_queue_answer (&queue, 3, empty));
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 100 + 24);
  /* ...and a failed answer changes nothing. */
  g_assert_false (rabc_reply_queue_answer (&queue, 1, short_reply));
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 124);

  g_assert_true (rabc_reply_queue_answer (&queue, 0, short_reply));
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 2 + 24);
  /* A reply stops counting once it leaves. */
  assert_pop (&queue, "ok");
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 24);
  assert_pop (&queue, "a reply of 24 bytes.....");
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 0);
  assert_pop (&queue, NULL);
  assert_pop (&queue, "");
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 0);

  /* Clearing drops what is held. */
  rabc_reply_queue_push (&queue, 64);
  rabc_reply_queue_answer (&queue, rabc_reply_queue_push (&queue, 8), long_reply);
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 64 + 24);
  rabc_reply_queue_clear (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 0);
}

static void
test_clear_gives_fresh_numbers (void)
{
  RabcReplyQueue queue;
  guint64 first, second, after;

  rabc_reply_queue_init (&queue);
  first = rabc_reply_queue_push (&queue, 1);
  second = rabc_reply_queue_push (&queue, 1);
  g_assert_cmpuint (second, ==, first + 1);
  rabc_reply_queue_take (&queue, second);
  rabc_reply_queue_clear (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_length (&queue), ==, 0);

  /* A request of before the clear, answered late, must never land on a
   * slot of after it. */
  after = rabc_reply_queue_push (&queue, 1);
  g_assert_cmpuint (after, >, second);
  g_assert_false (rabc_reply_queue_answer (&queue, first, NULL));
  g_assert_false (rabc_reply_queue_answer (&queue, second, NULL));
  g_assert_false (rabc_reply_queue_take (&queue, second));
  g_assert_false (rabc_reply_queue_is_front (&queue, first));
  g_assert_true (rabc_reply_queue_is_front (&queue, after));
  assert_no_pop (&queue);
  g_assert_true (rabc_reply_queue_answer (&queue, after, NULL));
  assert_pop (&queue, NULL);

  /* Cleared twice, and once empty: still fresh numbers. */
  rabc_reply_queue_clear (&queue);
  rabc_reply_queue_clear (&queue);
  g_assert_cmpuint (rabc_reply_queue_push (&queue, 1), >, after);
  rabc_reply_queue_clear (&queue);
}

/* Pushes @n_total requests, each taken: the odd ones answered at once,
 * and each even one @window requests later, so that the replies wait
 * behind it meanwhile.  Each answer must land on its own request however
 * the spent slots are dropped from the front. */
static void
run_sliding_window (guint n_total,
                    guint window)
{
  RabcReplyQueue queue;
  guint64 next_pop = 0;
  guint n_taken = 0;

  rabc_reply_queue_init (&queue);
  for (guint64 seq = 0; seq < n_total; seq++)
    {
      g_assert_cmpuint (rabc_reply_queue_push (&queue, 10), ==, seq);
      g_assert_true (rabc_reply_queue_take (&queue, seq));

      if (seq % 2 == 1)
        {
          g_autofree char *text = g_strdup_printf ("reply %" G_GUINT64_FORMAT, seq);
          g_autoptr(GBytes) reply = text_bytes (text);

          g_assert_true (rabc_reply_queue_answer (&queue, seq, reply));
        }
      if (seq >= window)
        {
          guint64 old = seq - window;
          g_autofree char *text = g_strdup_printf ("reply %" G_GUINT64_FORMAT, old);
          g_autoptr(GBytes) reply = text_bytes (text);
          GBytes *popped = NULL;

          g_assert_true (rabc_reply_queue_answer (&queue, old, reply) == (old % 2 == 0));

          /* Everything up to @old is answered now, and the odd one after
           * it if any: the next even one holds the rest. */
          while (rabc_reply_queue_pop (&queue, &popped))
            {
              g_autofree char *expected = g_strdup_printf ("reply %" G_GUINT64_FORMAT, next_pop);

              g_assert_nonnull (popped);
              g_assert_cmpmem (g_bytes_get_data (popped, NULL), g_bytes_get_size (popped),
                               expected, strlen (expected));
              g_clear_pointer (&popped, g_bytes_unref);
              next_pop++;
            }
          g_assert_cmpuint (next_pop, >, old);
          g_assert_true (next_pop % 2 == 0 || next_pop == seq + 1);
        }

      g_assert_cmpuint (rabc_reply_queue_get_length (&queue), ==, seq + 1 - next_pop);
      if (next_pop <= seq)
        g_assert_true (rabc_reply_queue_is_front (&queue, next_pop));
    }

  /* What is left: the even ones taken and unanswered, the odd ones
   * answered behind them. */
  for (guint64 seq = next_pop; seq < n_total; seq++)
    n_taken += seq % 2 == 0;
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, n_taken);
  for (guint64 seq = next_pop; seq < n_total; seq++)
    g_assert_true (rabc_reply_queue_answer (&queue, seq, NULL) == (seq % 2 == 0));
  g_assert_cmpuint (rabc_reply_queue_get_n_taken (&queue), ==, 0);
  for (guint64 seq = next_pop; seq < n_total; seq++)
    {
      g_autofree char *expected = g_strdup_printf ("reply %" G_GUINT64_FORMAT, seq);

      assert_pop (&queue, seq % 2 == 0 ? NULL : expected);
    }
  assert_no_pop (&queue);
  g_assert_cmpuint (rabc_reply_queue_get_held (&queue), ==, 0);
  rabc_reply_queue_clear (&queue);
}

static void
test_compaction (void)
{
  /* Windows below, at and above the size from which the spent slots are
   * dropped, so that they go with and without slots behind them. */
  const guint windows[] = { 1, 2, 5, 31, 32, 33, 64, 100, 333 };

  for (guint i = 0; i < G_N_ELEMENTS (windows); i++)
    run_sliding_window (5000, windows[i]);
}

static void
test_compaction_keeps_lookups (void)
{
  RabcReplyQueue queue;
  guint64 base;

  /* Many popped while a long tail waits, then every slot of the tail is
   * found by its number, in an order unrelated to the array's. */
  rabc_reply_queue_init (&queue);
  for (guint i = 0; i < 1000; i++)
    rabc_reply_queue_push (&queue, 1);
  for (guint64 seq = 0; seq < 600; seq++)
    {
      g_assert_true (rabc_reply_queue_answer (&queue, seq, NULL));
      assert_pop (&queue, NULL);
    }
  base = 600;
  for (guint i = 0; i < 2000; i++)
    rabc_reply_queue_push (&queue, 1);
  g_assert_cmpuint (rabc_reply_queue_get_length (&queue), ==, 2400);
  g_assert_true (rabc_reply_queue_is_front (&queue, base));

  for (guint64 k = 0; k < 2400; k++)
    {
      guint64 seq = base + (k * 7919) % 2400;   /* 7919 is prime: every slot once */
      g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, seq);
      g_autoptr(GBytes) reply = text_bytes (text);

      g_assert_true (rabc_reply_queue_answer (&queue, seq, reply));
    }
  g_assert_false (rabc_reply_queue_answer (&queue, base - 1, NULL));
  g_assert_false (rabc_reply_queue_answer (&queue, base + 2400, NULL));

  for (guint64 seq = base; seq < base + 2400; seq++)
    {
      g_autofree char *expected = g_strdup_printf ("%" G_GUINT64_FORMAT, seq);

      g_assert_true (rabc_reply_queue_is_front (&queue, seq));
      assert_pop (&queue, expected);
    }
  assert_no_pop (&queue);
  g_assert_cmpuint (rabc_reply_queue_push (&queue, 1), ==, base + 2400);
  rabc_reply_queue_clear (&queue);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/reply-queue/empty", test_empty);
  g_test_add_func ("/rabc/reply-queue/in-order", test_in_order);
  g_test_add_func ("/rabc/reply-queue/out-of-order-pops-in-order", test_out_of_order);
  g_test_add_func ("/rabc/reply-queue/answer-once", test_answer_once);
  g_test_add_func ("/rabc/reply-queue/taken-counts-until-answered", test_taken);
  g_test_add_func ("/rabc/reply-queue/held-bytes", test_held_bytes);
  g_test_add_func ("/rabc/reply-queue/clear-gives-fresh-numbers", test_clear_gives_fresh_numbers);
  g_test_add_func ("/rabc/reply-queue/compaction-sliding-window", test_compaction);
  g_test_add_func ("/rabc/reply-queue/compaction-keeps-lookups", test_compaction_keeps_lookups);

  return g_test_run ();
}
