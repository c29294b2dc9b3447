/* rabc-deadline-source-private.h: a GSource that fires at its ready time
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

GSource *rabc_deadline_source_new (const char    *name,
                                   GSourceFunc    func,
                                   gpointer       user_data,
                                   GDestroyNotify notify,
                                   GMainContext  *context);

G_END_DECLS
