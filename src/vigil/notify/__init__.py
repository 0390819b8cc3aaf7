"""Waking her: messages to the protected person herself, on two channels of their own.

- Web Push (RFC 8030) to each browser where the victim app subscribed, encrypted for that browser
  (RFC 8291, aes128gcm) and signed with the server's VAPID key (RFC 8292): when he comes near (within
  her view while a proximity alert about her is open: where the app shows him anyway), when it
  becomes a violation, and when the control centre answers her SOS (acknowledged, dispatched). The
  push says which of these it is and nothing more: never where he is.
- Text messages through the configured SMS gateway, as Korea's system does: one when he comes
  within the warning distance, then one each time the distance has changed by 100 m (closer or
  farther) since the last text, while he stays within it.

The shape is the dispatch outbox's: `staging` writes each message as a `notifications` row in the
transaction of the alert change it is about (committed together or not at all); `sender` sends it
after the commit, on the event loop, and reports each attempt through the single writer (`Notified`),
which `records` writes down. Retried with backoff until delivered, refused for good, or too old to be
true (`notify_give_up_s`); every attempt is visible to the control centre in the alert's detail.
`planning` is the pure part: what an alert change says to her.
"""
