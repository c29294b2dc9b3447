/* test-peer-table.c: what a server's peers are and what they hold
 *
 * SPDX-License-Identifier: MIT
 */

#include <string.h>

#include "rabc-peer-table-private.h"
#include "rabc-test-util.h"

static void
entry_init (RabcPeerEntry *entry,
            uid_t          uid)
{
  memset (entry, 0, sizeof *entry);
  entry->uid = uid;
  entry->data = entry;
}

static void
test_peer_table_users (void)
{
  RabcPeerEntry a, b, c;
  RabcPeerTable table;

  rabc_peer_table_init (&table);
  entry_init (&a, 1000);
  entry_init (&b, 1000);
  entry_init (&c, 0);
  g_assert_false (rabc_peer_table_contains (&a));
  rabc_peer_table_add (&table, &a, 0);
  rabc_peer_table_add (&table, &b, 0);
  rabc_peer_table_add (&table, &c, 0);

  g_assert_cmpuint (table.n_peers, ==, 3);
  g_assert_cmpuint (rabc_peer_table_count_user (&table, 1000), ==, 2);
  g_assert_cmpuint (rabc_peer_table_count_user (&table, 0), ==, 1);
  g_assert_cmpuint (rabc_peer_table_count_user (&table, 1), ==, 0);

  /* Every peer is listed once, and a removed one no more. */
  {
    g_autoptr(GPtrArray) all = rabc_peer_table_list (&table);

    g_assert_cmpuint (all->len, ==, 3);
    g_assert_true (g_ptr_array_find (all, &a, NULL));
    g_assert_true (g_ptr_array_find (all, &b, NULL));
    g_assert_true (g_ptr_array_find (all, &c, NULL));
  }
  g_assert_true (rabc_peer_table_contains (&a));

  rabc_peer_table_remove (&table, &a);
  g_assert_false (rabc_peer_table_contains (&a));
  rabc_peer_table_remove (&table, &a);   /* twice is harmless */
  {
    g_autoptr(GPtrArray) all = rabc_peer_table_list (&table);

    g_assert_cmpuint (all->len, ==, 2);
    g_assert_false (g_ptr_array_find (all, &a, NULL));
  }
  g_assert_cmpuint (rabc_peer_table_count_user (&table, 1000), ==, 1);
  rabc_peer_table_remove (&table, &b);
  rabc_peer_table_remove (&table, &c);
  g_assert_cmpuint (table.n_peers, ==, 0);
  g_assert_cmpuint (g_hash_table_size (table.users), ==, 0);
  rabc_peer_table_clear (&table);
}

/* Over budget, the one to drop is the largest holder of the user holding
 * the most, not the largest holder overall: a user under its share keeps
 * what it holds. */
static void
test_peer_table_largest (void)
{
  RabcPeerEntry hog[3], victim;
  RabcPeerTable table;

  rabc_peer_table_init (&table);
  g_assert_null (rabc_peer_table_find_largest (&table));

  entry_init (&victim, 1001);
  rabc_peer_table_add (&table, &victim, 0);
  rabc_peer_table_update (&table, &victim, 900, 1, TRUE, 0);
  for (guint i = 0; i < 3; i++)
    {
      entry_init (&hog[i], 1000);
      rabc_peer_table_add (&table, &hog[i], 0);
      rabc_peer_table_update (&table, &hog[i], 400 + i * 100, 1, TRUE, 0);
    }
  g_assert_cmpuint (table.allocated, ==, 900 + 400 + 500 + 600);

  /* uid 1000 holds 1500, more than 1001's 900, though 1001's one peer
   * holds more than any of 1000's. */
  g_assert_true (rabc_peer_table_find_largest (&table) == &hog[2]);
  rabc_peer_table_remove (&table, &hog[2]);
  g_assert_cmpuint (table.allocated, ==, 1800);
  rabc_peer_table_remove (&table, &hog[1]);
  g_assert_true (rabc_peer_table_find_largest (&table) == &victim);

  /* Memory given back is accounted too. */
  rabc_peer_table_update (&table, &victim, 0, 2, FALSE, 0);
  rabc_peer_table_update (&table, &hog[0], 0, 2, FALSE, 0);
  g_assert_cmpuint (table.allocated, ==, 0);
  g_assert_null (rabc_peer_table_find_largest (&table));

  rabc_peer_table_remove (&table, &victim);
  rabc_peer_table_remove (&table, &hog[0]);
  rabc_peer_table_clear (&table);
}

/* Peers in the middle of a frame come out oldest progress first; progress
 * moves a peer to the back, and a peer between frames is in neither. */
static void
test_peer_table_stalled (void)
{
  RabcPeerEntry a, b, idle;
  RabcPeerTable table;

  rabc_peer_table_init (&table);
  entry_init (&a, 0);
  entry_init (&b, 0);
  entry_init (&idle, 0);
  rabc_peer_table_add (&table, &a, 0);
  rabc_peer_table_add (&table, &b, 0);
  rabc_peer_table_add (&table, &idle, 0);

  rabc_peer_table_update (&table, &a, 0, 1, TRUE, 100);
  rabc_peer_table_update (&table, &b, 0, 1, TRUE, 200);
  rabc_peer_table_update (&table, &idle, 0, 1, FALSE, 50);
  g_assert_true (rabc_peer_table_peek_mid_frame (&table) == &a);
  g_assert_null (rabc_peer_table_get_stalled_since (&table, 99));
  g_assert_true (rabc_peer_table_get_stalled_since (&table, 100) == &a);

  /* a moves: b is now the oldest. */
  rabc_peer_table_update (&table, &a, 0, 2, TRUE, 300);
  g_assert_true (rabc_peer_table_peek_mid_frame (&table) == &b);
  g_assert_cmpint (a.last_progress, ==, 300);

  /* No progress: b keeps its time and place. */
  rabc_peer_table_update (&table, &b, 0, 1, TRUE, 400);
  g_assert_cmpint (b.last_progress, ==, 200);
  g_assert_true (rabc_peer_table_get_stalled_since (&table, 250) == &b);

  /* b finishes its frame, a leaves. */
  rabc_peer_table_update (&table, &b, 0, 3, FALSE, 500);
  g_assert_true (rabc_peer_table_peek_mid_frame (&table) == &a);
  rabc_peer_table_remove (&table, &a);
  g_assert_null (rabc_peer_table_peek_mid_frame (&table));

  rabc_peer_table_remove (&table, &b);
  rabc_peer_table_remove (&table, &idle);
  rabc_peer_table_clear (&table);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/peer-table/users", test_peer_table_users);
  g_test_add_func ("/rabc/peer-table/largest", test_peer_table_largest);
  g_test_add_func ("/rabc/peer-table/stalled", test_peer_table_stalled);

  return g_test_run ();
}
