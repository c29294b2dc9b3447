/* test-call-queue.c: the requests a client awaits replies to
 *
 * SPDX-License-Identifier: MIT
 */

#include "rabc-call-queue-private.h"

#define ALL_KINDS (RABC_CALL_KIND_MASK (RABC_CALL_PING) | \
                   RABC_CALL_KIND_MASK (RABC_CALL_TASK) | \
                   RABC_CALL_KIND_MASK (RABC_CALL_SYNC))
#define NOT_SYNC (RABC_CALL_KIND_MASK (RABC_CALL_PING) | RABC_CALL_KIND_MASK (RABC_CALL_TASK))

static int waiters[4];

static void
test_fifo (void)
{
  RabcCallQueue queue;
  RabcCall *call;

  rabc_call_queue_init (&queue);
  g_assert_null (rabc_call_queue_pop (&queue));

  for (guint i = 0; i < 3; i++)
    rabc_call_queue_push (&queue, RABC_CALL_TASK, &waiters[i], 10 * i, -1);
  g_assert_cmpuint (rabc_call_queue_get_length (&queue), ==, 3);

  /* Each reply answers the oldest call. */
  for (guint i = 0; i < 3; i++)
    {
      call = rabc_call_queue_pop (&queue);
      g_assert_true (call->waiter == &waiters[i]);
      g_assert_cmpint (call->sent_time, ==, 10 * i);
      rabc_call_free (call);
    }
  g_assert_null (rabc_call_queue_pop (&queue));
  rabc_call_queue_clear (&queue);
}

static void
test_abandoned_keeps_its_place (void)
{
  RabcCallQueue queue;
  RabcCall *first, *second, *call;

  rabc_call_queue_init (&queue);
  first = rabc_call_queue_push (&queue, RABC_CALL_SYNC, &waiters[0], 0, 100);
  second = rabc_call_queue_push (&queue, RABC_CALL_TASK, &waiters[1], 0, 200);

  /* A caller that stops waiting leaves its call in line: the next reply is
   * still its own, and is dropped, not given to the second call. */
  rabc_call_abandon (first);
  g_assert_true (rabc_call_is_abandoned (first));
  g_assert_false (rabc_call_is_abandoned (second));
  g_assert_cmpint (first->deadline, ==, -1);
  g_assert_cmpuint (rabc_call_queue_get_length (&queue), ==, 2);

  call = rabc_call_queue_pop (&queue);
  g_assert_true (call == first);
  g_assert_true (rabc_call_is_abandoned (call));
  rabc_call_free (call);
  call = rabc_call_queue_pop (&queue);
  g_assert_true (call == second);
  g_assert_true (call->waiter == &waiters[1]);
  rabc_call_free (call);
  rabc_call_queue_clear (&queue);
}

static void
test_deadlines (void)
{
  RabcCallQueue queue;
  RabcCall *ping, *task, *sync, *none;

  rabc_call_queue_init (&queue);
  g_assert_cmpint (rabc_call_queue_get_next_deadline (&queue, ALL_KINDS), ==, -1);

  ping = rabc_call_queue_push (&queue, RABC_CALL_PING, &waiters[0], 0, 300);
  sync = rabc_call_queue_push (&queue, RABC_CALL_SYNC, &waiters[1], 0, 100);
  task = rabc_call_queue_push (&queue, RABC_CALL_TASK, &waiters[2], 0, 200);
  none = rabc_call_queue_push (&queue, RABC_CALL_TASK, &waiters[3], 0, -1);

  /* The kinds asked for only: the owner times synchronous calls out in
   * their own threads. */
  g_assert_cmpint (rabc_call_queue_get_next_deadline (&queue, ALL_KINDS), ==, 100);
  g_assert_cmpint (rabc_call_queue_get_next_deadline (&queue, NOT_SYNC), ==, 200);
  g_assert_null (rabc_call_queue_find_expired (&queue, NOT_SYNC, 199));
  g_assert_true (rabc_call_queue_find_expired (&queue, ALL_KINDS, 100) == sync);
  g_assert_true (rabc_call_queue_find_expired (&queue, NOT_SYNC, 200) == task);

  /* The oldest expired call first, whatever its deadline. */
  g_assert_true (rabc_call_queue_find_expired (&queue, NOT_SYNC, 1000) == ping);

  /* Abandoned calls have no deadline any more; a call without one never
   * expires. */
  rabc_call_abandon (ping);
  rabc_call_abandon (task);
  g_assert_cmpint (rabc_call_queue_get_next_deadline (&queue, NOT_SYNC), ==, -1);
  g_assert_null (rabc_call_queue_find_expired (&queue, NOT_SYNC, G_MAXINT64));
  g_assert_false (rabc_call_is_abandoned (none));

  rabc_call_queue_clear (&queue);
  g_assert_cmpuint (rabc_call_queue_get_length (&queue), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/call-queue/fifo", test_fifo);
  g_test_add_func ("/rabc/call-queue/abandoned-keeps-its-place", test_abandoned_keeps_its_place);
  g_test_add_func ("/rabc/call-queue/deadlines", test_deadlines);

  return g_test_run ();
}
