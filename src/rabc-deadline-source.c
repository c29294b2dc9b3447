/* rabc-deadline-source.c: a GSource that fires at its ready time
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include "rabc-deadline-source-private.h"

static gboolean
deadline_source_dispatch (GSource     *source,
                          GSourceFunc  callback,
                          gpointer     user_data)
{
  return callback (user_data);
}

static GSourceFuncs deadline_source_funcs = {
  .dispatch = deadline_source_dispatch,
};

/*
 * rabc_deadline_source_new:
 * @name: (not nullable): a static string, the source's name
 *
 * Creates a source attached to @context that calls @func whenever its
 * ready time (g_source_set_ready_time()) has come; it starts disarmed, and
 * @func re-arms or disarms it.  Destroy it with rabc_clear_source().
 *
 * Returns: (transfer full): the source
 */
GSource *
rabc_deadline_source_new (const char   *name,
                          GSourceFunc   func,
                          gpointer       user_data,
                          GDestroyNotify notify,
                          GMainContext  *context)
{
  GSource *source = g_source_new (&deadline_source_funcs, sizeof (GSource));

  g_source_set_static_name (source, name);
  g_source_set_callback (source, func, user_data, notify);
  g_source_attach (source, context);
  return source;
}
