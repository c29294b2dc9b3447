/* rabc-utf8-private.h: UTF-8 validation for the wire codec
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean rabc_utf8_validate (const char *text,
                             gsize       len);

G_END_DECLS
