// Package hrflowtest provides a fake HrFlow API server for tests, end-to-end runs and the
// sandbox: [NewServer] starts one on a loopback port, [Listen] on a fixed address.
//
// # Data
//
// The server holds profiles by source key. [Server.Generate] adds any number of realistic,
// varied, deterministic profiles; [Server.LoadSamples] adds the two sample profiles of the API
// notes (embedded, so the package needs no other files); [Server.AddProfile] adds a caller's
// own. Attachments of every profile are served by the server itself as small PDF files, at
// /files/{source_key}/{key}/{name}, without authentication, as HrFlow's public S3 URLs are.
//
// # Endpoints
//
//   - GET /v1/profile/indexing?source_key=…&key=… (or &reference=…): one profile in the
//     envelope {"code":200,"message":"Profile details","data":{…}}. An unknown source or
//     profile is answered HTTP 400 {"code":400,"message":"Invalid parameters. Unable to find
//     object: profile"} (or "source"), as HrFlow does.
//   - GET /v1/storing/profiles?source_keys=["…"]&page=…&limit=…: a page of profiles with
//     "meta" {page, maxPage, count, total}; return_profile, order_by (asc, desc), sort_by
//     (created_at, updated_at), created_at_min and created_at_max are honoured. Without
//     return_profile, items carry only keys, reference and dates.
//   - GET /files/…: attachment downloads.
//
// API requests must carry the configured X-API-KEY and X-USER-EMAIL headers, else they are
// answered 401 like HrFlow does (without echoing any key).
//
// # Faults
//
// [Config] injects latency, server errors (a 503 JSON envelope and a 502 HTML gateway page, in
// turn) and 429 answers with "Retry-After: 1" into a share of API requests, decided by seeded
// dice before the request is processed. The latency is when the answer goes out, counted from
// the request's arrival; the request is processed at once. Attachment downloads are faulted
// only through their own rate.
//
// # Webhooks
//
// With [Config].Webhook, the server delivers HrFlow's profile webhooks, signed with
// HTTP-HRFLOW-SIGNATURE in either documented form: [Server.Parse] (new profiles, as parsed
// resumes) delivers profile.parsing.success and profile.storing.success, [Server.AddProfile]
// profile.storing.success or .update, [Server.TouchProfile] profile.storing.update. The payload
// is {type, origin, message, profile} with the profile as the API serves it. Deliveries are
// asynchronous and retried on failure like HrFlow's; [Server.Webhooks] counts them.
//
// # Observability
//
// [Server.Stats] counts answers by endpoint and status, and [Server.Downloads] the attachments
// served, so tests can assert how many calls a client made.
package hrflowtest
