// Package webhook receives HrFlow's webhooks and turns profile events into push jobs: the
// continuous sync of an HrFlow source into an ATS.
//
// [Handler] serves [Pattern], POST /webhooks/hrflow/{workflow}. A delivery is checked, then
// each of its events (one object, or an array of them as older HrFlow docs allow with the
// sdk scheme) is read: [EventParsingSuccess], [EventStoringSuccess] and [EventStoringUpdate]
// (and the "profile.indexing.*" spelling) become one job of the workflow named in the path,
// for the profile's key and source key; other events are acknowledged and ignored (200). The
// answer (202 with a [Result]) is sent once JetStream has stored every job, so a delivery
// answered 2xx is never lost, and one HrFlow delivers again after a failure is stored once.
//
// # Signature
//
// Every delivery must carry [SignatureHeader], an HMAC-SHA256 keyed with the webhook's
// secret. HrFlow documents two forms ([SchemeHex], the default, and [SchemeSDK]); the
// configuration picks one. A missing, malformed or wrong signature is answered 401 and nothing
// is enqueued; nothing about the workflows is said before the signature is checked.
//
// # Deduplication
//
// HrFlow's payload has no event id. A job's message id (Nats-Msg-Id) is derived from the
// workflow, the target, the source and profile keys and the profile as the payload carries it
// (canonical JSON, which includes its updated_at): a redelivery carries the same profile and
// is stored once within the stream's duplicates window, the parsing and storing events of one
// new profile make one job, and two edits of a profile are two jobs. The workflow's read_mode
// incremental then skips a job whose profile is unchanged since its last push. A profile
// without updated_at is also keyed by the minute the delivery arrived in.
//
// # Errors
//
// Refusals are RFC 9457 problem bodies (package problem): 401 bad-signature, 404
// unknown-workflow, 400 malformed-payload or invalid-event, 413 too-large or too-many-events,
// and 503 queue-unavailable (with Retry-After) when JetStream did not store the jobs in time.
package webhook
