/* rabc-request.h: one message a RabcServer received, to be answered
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#if !defined(__RABC_INSIDE__) && !defined(RABC_COMPILATION)
#error "Only <rabc.h> can be included directly."
#endif

#include <glib-object.h>

#include "rabc-peer.h"
#include "rabc-version-macros.h"

G_BEGIN_DECLS

#define RABC_TYPE_REQUEST (rabc_request_get_type ())

RABC_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (RabcRequest, rabc_request, RABC, REQUEST, GObject)

RABC_AVAILABLE_IN_ALL
const char *rabc_request_get_message  (RabcRequest *self);
RABC_AVAILABLE_IN_ALL
GBytes     *rabc_request_get_payload  (RabcRequest *self);
RABC_AVAILABLE_IN_ALL
RabcPeer   *rabc_request_get_peer     (RabcRequest *self);
RABC_AVAILABLE_IN_ALL
void        rabc_request_reply        (RabcRequest *self,
                                       const char  *reply);
RABC_AVAILABLE_IN_ALL
void        rabc_request_reply_bytes  (RabcRequest *self,
                                       GBytes      *reply);

G_END_DECLS
