"""Every Tent post type URI the server and the status client name, in one place (D-80).

`*_BASE` is a type without fragment (`parse_type(t).base_version`, what selectors and the
`type_base` column compare); `*_TYPE` is the type a post of ours carries, with its fragment.
Credentials posts carry the type they are credentials for as their fragment, and so do
subscriptions and reposts (§0.4).
"""

from __future__ import annotations

TENT_TYPES = "https://tent.io/types/"

APP_BASE = TENT_TYPES + "app/v0"
APP_AUTH_BASE = TENT_TYPES + "app-auth/v0"
CREDENTIALS_BASE = TENT_TYPES + "credentials/v0"
DELETE_BASE = TENT_TYPES + "delete/v0"
DELIVERY_FAILURE_BASE = TENT_TYPES + "delivery-failure/v0"
GROUP_BASE = TENT_TYPES + "group/v0"
GROUP_MEMBER_BASE = TENT_TYPES + "group-member/v0"
META_BASE = TENT_TYPES + "meta/v0"
RELATIONSHIP_BASE = TENT_TYPES + "relationship/v0"
REPOST_BASE = TENT_TYPES + "repost/v0"
STATUS_BASE = TENT_TYPES + "status/v0"
SUBSCRIPTION_BASE = TENT_TYPES + "subscription/v0"

APP_TYPE = APP_BASE + "#"
APP_AUTH_TYPE = APP_AUTH_BASE + "#"
CREDENTIALS_TYPE = CREDENTIALS_BASE + "#"
DELETE_TYPE = DELETE_BASE + "#"
DELIVERY_FAILURE_TYPE = DELIVERY_FAILURE_BASE + "#"
META_TYPE = META_BASE + "#"
RELATIONSHIP_TYPE = RELATIONSHIP_BASE + "#"
RELATIONSHIP_INITIAL_TYPE = RELATIONSHIP_BASE + "#initial"
STATUS_TYPE = STATUS_BASE + "#"
REPLY_TYPE = STATUS_BASE + "#reply"

CREDENTIALS_APP_TYPE = CREDENTIALS_TYPE + APP_BASE
CREDENTIALS_APP_AUTH_TYPE = CREDENTIALS_TYPE + APP_AUTH_BASE
CREDENTIALS_RELATIONSHIP_TYPE = CREDENTIALS_TYPE + RELATIONSHIP_BASE
SUBSCRIPTION_META_TYPE = SUBSCRIPTION_BASE + "#" + META_BASE

