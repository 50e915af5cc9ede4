/* SPDX-License-Identifier: MIT */
/* vq_reason.c: names of the rejection reasons. */
#include "vq_reason.h"

static const char *const vq_reason_names[VQ_REASON_COUNT] = {
    [VQ_OK] = "accepted",
    [VQ_REJ_OVERSIZE] = "oversize",
    [VQ_REJ_ACL] = "acl",
    [VQ_REJ_RATE_LIMIT] = "rate_limit",
    [VQ_REJ_NOT_JSON] = "not_json",
    [VQ_REJ_NOT_OBJECT] = "not_object",
    [VQ_REJ_NO_TYPE] = "no_message_type",
    [VQ_REJ_QUERY] = "query",
    [VQ_REJ_UNKNOWN_TYPE] = "unknown_message_type",
    [VQ_REJ_MISSING] = "missing_field",
    [VQ_REJ_BAD_TYPE] = "bad_type",
    [VQ_REJ_TOO_LONG] = "name_too_long",
    [VQ_REJ_COOKIE] = "cookie",
    [VQ_REJ_FLEET_FULL] = "fleet_full",
};

const char *vq_reason_name(vq_reason_t r) {
  if ((unsigned)r >= VQ_REASON_COUNT)
    return "unknown";
  return vq_reason_names[r];
}
