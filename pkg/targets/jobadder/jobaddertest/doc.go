// Package jobaddertest provides a fake JobAdder API v2 and identity server for tests and the
// sandbox.
//
// A [Server] answers the way JobAdder does, and is exactly as strict: every request to /v2 is
// validated against JobAdder's own OpenAPI document (openapi.json, embedded unchanged) with
// kin-openapi before anything else happens. A fake that accepts what the real API refuses would
// make every test that uses it a lie.
//
//	srv := jobaddertest.NewServer(jobaddertest.Config{})
//	t.Cleanup(srv.Close)
//	code := srv.IssueCode() // or drive GET /connect/authorize
//
// # Identity
//
// GET /connect/authorize stands for an administrator granting access: it redirects to the
// registered redirect URI with a code and the state. POST /connect/token takes form-encoded
// authorization_code and refresh_token grants, with client credentials as form fields or HTTP
// Basic authentication. Codes are single-use and live [Config].CodeTTL; refresh tokens rotate
// (a refresh returns a new refresh token and the one used is refused afterwards) and are issued
// only with the offline_access scope. Errors are {"error":"invalid_grant"} (bad, used, expired
// code or refresh token) and {"error":"invalid_client"}. [Server.RevokeAll] and
// [Server.ExpireAccessTokens] simulate a deleted user and expired tokens.
//
// # API
//
// Calls need "Authorization: Bearer <access token>" (otherwise 401 {"message":"Unauthorized"})
// holding one of the operation's scopes (otherwise 403). The fake implements:
//
//	GET  /v2/candidates                                   FindCandidates: CandidateId, Name, Email, Phone, Offset, Limit
//	POST /v2/candidates                                   AddCandidate → 201, 409 duplicate email
//	GET  /v2/candidates/{candidateId}                     GetCandidate
//	PUT  /v2/candidates/{candidateId}                     UpdateCandidate → 200 without body, 409
//	GET  /v2/candidates/{candidateId}/attachments         FindCandidateAttachments
//	POST /v2/candidates/{candidateId}/attachments/{attach} AddCandidateAttachment (multipart, part fileData) → 201
//	GET  /v2/candidates/{candidateId}/attachments/{attach} GetCandidateAttachment (the file)
//
// Other operations of these paths, and query parameters the fake does not implement, answer
// 501 so a test never mistakes an ignored filter for an answer.
//
// # Validation
//
// The document forbids unknown properties in AddCandidateCommand, UpdateCandidateCommand and all
// their nested models (additionalProperties: false), so "postcode", "educations" or
// "employments" answer 422 with the ErrorModel
//
//	{"message":"Validation error","errors":[{"code":"Invalid","message":"property \"postcode\" is unsupported","fields":["address.postcode"]}]}
//
// as do values longer than maxLength, wrong types, enum values not in the document, dates not in
// ISO form, and more than 100 skillTags (.NET's [MaxLength] on a collection, which the document
// can only express as maxLength on the array). A Content-Type other than application/json (or
// multipart/form-data for uploads) answers 415. An integer path parameter that does not parse
// answers 404. Query parameter names match case-insensitively, as ASP.NET binds them;
// undeclared query parameters and extra multipart parts are ignored, as the real API ignores
// them, and counted in [State].IgnoredFields. JSON property names must be spelled as the
// document spells them: the fake refuses "FirstName" although ASP.NET might bind it, erring on
// the strict side.
//
// # Duplicates
//
// A candidate whose email (trimmed, any case) another candidate has answers 409
// {"message":"Candidate with this email already exists",...} with an X-Allow-Duplicates header
// carrying an opaque override code tied to that email. Sending the request again with that code
// in the X-Allow-Duplicates request header creates the duplicate; [State].AllowedDuplicates
// counts them. Candidates without email never conflict. A PUT conflicts only when it changes the
// email to one another candidate has.
//
// # Faults
//
// [Config].RateLimitRate and [Config].ErrorRate answer that share of API calls 429 (with
// Retry-After) or 500/503 before anything else is done, so nothing is written; the dice are
// seeded by [Config].Seed. [Config].TokenErrorRate does the same for the token endpoint.
// [Config].Latency is when an API call is answered, counted from its arrival: the call is
// processed at once and its answer held back for the rest of that time (a token call waits
// Latency, then is processed). [Config].SlowRate picks a share of API calls whose answer is
// held back [Config].SlowLatency more: the write is done even if the client gives up or dies
// waiting ([State].SlowAnswers counts them). [Server.SetDown] takes
// the whole API down (503 to every call) and back, as an outage would.
//
// # Observing
//
// [Server.State] reports counts that tests assert on (candidates, duplicates, requests by route
// and status, code exchanges, refreshes, validation failures); [Server.Candidates] and
// [Server.Attachments] return what was written.
//
// # Globals
//
// The OpenAPI document is parsed once per process, on first use, and shared read-only by all
// servers: parsing takes about 150 ms (over a second under -race), too slow for a server per
// parallel test.
package jobaddertest
