// Package bullhorntest provides a fake Bullhorn REST API: loginInfo, OAuth, REST login and
// sessions, Candidate, CandidateEducation, CandidateWorkHistory, search and files.
//
// It is as strict as Bullhorn, and stricter where Bullhorn's behaviour is unknown: a fake that
// accepts what the real API refuses would make every test that uses it a lie. Where it must
// guess, it refuses, and it answers 501 for what it does not model rather than pretending.
//
//	srv := bullhorntest.NewServer(bullhorntest.Config{BaseURL: "/bullhorn"})
//	t.Cleanup(srv.Close)
//	sess, _ := srv.IssueSession() // or drive loginInfo, authorize, token and login
//
// A sandbox serves [Server.Handler] itself: [New] with Config.BaseURL set to the public URL,
// e.g. "http://127.0.0.1:8090/bullhorn". Every URL the fake returns derives from BaseURL, and
// the handler strips BaseURL's path, so it may be mounted with or without http.StripPrefix.
//
// # Routes
//
// Paths are relative to BaseURL; {restUrl} is BaseURL+"/rest-services/"+CorpToken+"/".
//
//	GET      /rest-services/loginInfo?username=…         data-centre discovery, no auth
//	GET|POST /oauth/authorize?client_id&response_type=code&action=Login&username&password[&redirect_uri][&state]
//	POST     /oauth/token?grant_type=authorization_code&code&client_id&client_secret[&redirect_uri]
//	POST     /oauth/token?grant_type=refresh_token&refresh_token&client_id&client_secret
//	GET      /oauth/callback                             default redirect URI (counted: clients should not follow)
//	GET|POST /rest-services/login?version&access_token[&ttl=minutes]
//	GET      {restUrl}ping                               {"sessionExpires": epoch ms}
//	GET|POST {restUrl}logout                             {"logout":"OK"}
//	PUT      {restUrl}entity/{Entity}                    create → changeType INSERT
//	GET      {restUrl}entity/{Entity}/{id}[,{id}…]?fields=…
//	POST     {restUrl}entity/{Entity}/{id}               update → changeType UPDATE
//	GET      {restUrl}entity/Candidate/{id}/{educations|workHistories|fileAttachments}?fields=…[&start&count]
//	GET|POST {restUrl}search/Candidate?query=…[&fields=…][&start&count&sort]   (POST body {"query": …})
//	PUT      {restUrl}file/Candidate/{id}                base64 upload → {"fileId": N}
//	GET      {restUrl}file/Candidate/{id}/{fileId}       {"File": {contentType, fileContent, name}}
//	GET      {restUrl}entityFiles/Candidate/{id}         deprecated: {"EntityFiles": […]}
//	*        /wrong-dc/…                                 a wrong data centre (Config.RedirectDataCentre)
//	GET      /_sandbox/state                             State as JSON
//
// {Entity} is Candidate, CandidateEducation or CandidateWorkHistory; any other entity, DELETE,
// to-many association changes, layout, raw file uploads, meta, query (but query/Candidate, which
// answers Bullhorn's observed 400 "Query operation not supported for Candidate, please use
// /search call instead.") and the other REST operations answer 501.
//
// # Identity
//
// authorize redirects 302 to the registered redirect URI with code, client_id and state in the
// query; the code contains a ':' that the Location percent-encodes, so read it with a URL
// parser. Wrong username or password, or a missing action=Login, answer 200 with the HTML login
// form and no Location (as Bullhorn's login page does); unaccepted terms (Config.TermsNotAccepted
// until [Server.AcceptTerms]) answer 200 with an HTML consent page and no Location. An unknown
// client_id or a redirect_uri other than the registered one answers 400.
//
// Codes are single-use, even when the first exchange fails, and live Config.CodeTTL. If
// authorize named a redirect_uri, the token request must repeat it (Spring OAuth's rule).
// Refresh tokens rotate: a refresh answers a new access token and a new refresh token, and the
// one used is refused from then on. Access tokens live Config.AccessTokenTTL (expires_in 600).
// Client credentials go in the query string, a form body, or HTTP Basic authentication.
//
// REST login opens a session of ttl minutes (Config.SessionTTL without ttl), fixed from login.
// Calls under {restUrl} carry the BhRestToken as a query parameter (BhRestToken or
// BHRestToken), a BhRestToken header or cookie. [Server.ExpireSessions],
// [Server.ExpireAccessTokens] and [Server.RevokeAll] simulate expiry and a password reset.
//
// # Entities
//
// Bodies are JSON objects checked against a per-entity whitelist (schema.go) built from
// Bullhorn's entity reference and the official Java SDK: a field not in it, a read-only field
// (id, dateAdded, dateLastModified; an update may repeat its own id), a to-many association, a
// value of the wrong JSON type, a string longer than its column (counted in UTF-16 units, as
// Java does), a Timestamp that is not an integer of epoch milliseconds, a to-one association
// not given as exactly {"id": N}, a CandidateEducation or CandidateWorkHistory without
// candidate, or a candidate id that does not exist answer 400 and nothing is written:
//
//	{"errorMessage":"error persisting an entity of type: Candidate","errorMessageKey":"errors.cannotPersistEntity",
//	 "errorCode":400,"entityName":"Candidate","errors":[{"detailMessage":"'content_type' does not exist on Candidate",
//	 "propertyName":"content_type","severity":"ERROR","type":"UNKNOWN_PROPERTY"}]}
//
// errors lists every problem; type is one of UNKNOWN_PROPERTY, READ_ONLY_PROPERTY, INVALID_TYPE,
// INVALID_SIZE, INVALID_ASSOCIATION, NULL_NOT_ALLOWED, MISSING_REQUIRED_PROPERTY, INVALID_VALUE.
// Some limits that matter: Candidate firstName, lastName, occupation 50, name 100 (UNCONFIRMED),
// email* 100, phone, mobile 20, gender 1 (M, F, U), externalID 50, status 100, source 200;
// address address1, address2 100, city 40, state 50, zip 15, countryID integer;
// CandidateWorkHistory title 50, companyName 100; CandidateEducation school, degree, major,
// certification 100, city 40, state 50. name is never derived from firstName and lastName:
// [State].CreatedWithoutName counts candidates created without it. Timestamps that read as
// seconds between 1897 and 2128 (-2.3e9 to 5e9; as milliseconds they would be days around
// 1970-01-01) are accepted, as by Bullhorn, and counted in [State].SuspectTimestamps.
//
// GET needs fields (or answers 400); fields=* returns every stored field (or 400 with
// Config.AllFieldsNotAllowed, as some tenants do). fields may select subfields:
// address(city,zip), candidate(id,name), educations(id,school). To-many associations nested in
// fields show {"total": n, "data": […]} with at most 5 rows (UNCONFIRMED cap); the association
// GET pages with start and count (default 20, at most 500).
//
// # Search
//
// search/Candidate evaluates the Lucene query syntax as Lucene's classic QueryParser reads it
// (see lucene.go): (email:X OR email2:X OR email3:X) AND isDeleted:0 with X escaped
// (\+ \- \@ \. …), unescaped (+ and - inside a term are not operators) or quoted all work, as do
// id:N, ranges, wildcards and negation. Strings match whole values without regard to case;
// Bullhorn's index may tokenise email fields and match more loosely, so a client should check
// the email of what it finds. Syntax errors and unknown fields answer 400; fuzzy and regular
// expression queries, and terms without a field (a '+' that lost its URL encoding and became a
// space shows up as one), answer 501.
//
// A write becomes visible to search Config.IndexLag after it is made; until then search sees
// the candidate's previous state, or nothing for a new one. Without fields, data lists ids;
// with fields, rows carry _score and the stored (not the indexed) values.
//
// # Limits and faults
//
// REST calls (after the session check) share one sliding 60-second budget of
// Config.CallsPerMinute; beyond it they answer 429 without Retry-After unless
// Config.RetryAfterHeader. Logins beyond Config.MaxSessions live sessions answer 429.
// Config.RateLimitRate and Config.ErrorRate answer that share of REST calls 429 or 500/503
// ({"errorMessage":"An internal error has occurred","errorMessageKey":"errors.internalError"})
// before anything is done; Config.AuthErrorRate answers token and login requests 503.
// Config.SlowRate picks a share of REST calls whose answer is held back Config.SlowLatency after
// the call was processed: the write is done even if the client gives up or dies waiting
// ([State].SlowAnswers counts them). The dice are seeded by Config.Seed.
//
// # Error texts
//
// Observed from Bullhorn (issues, public clients): "Invalid or expired OAuth access token."
// (login, 400, errorMessageKey errors.internalError — newer clients report
// errors.authentication.invalidOAuthToken), "Bad 'BhRestToken' or timed-out." (401,
// errors.authentication.invalidRestToken), "An internal error has occurred", "error
// persisting an entity of type: X" with errors[] entries {detailMessage, propertyName,
// severity, type}, "missing required property: X", "You are not authorized to request all
// fields.", the query/Candidate refusal, and Spring OAuth's invalid_grant, invalid_client
// ("Bad client credentials") and "Redirect URI mismatch.".
//
// Invented, because Bullhorn does not document them (match on status codes, never on these):
// "Missing BhRestToken" (412), "Too many requests. Please slow down." (429),
// "Maximum number of concurrent sessions reached." (429 at login), "Invalid, expired, or
// revoked authorization code." (invalid_grant), "Invalid refresh token", the HTML login and
// consent pages, "Unable to find user with username: X" (loginInfo 400), "Unable to find X with
// id N" (404), "Missing required parameter: version|query|username", the detailMessage texts
// and type values of errors[], "Invalid fields parameter: …", search syntax messages,
// "Search operation not supported for X, please use /query call instead.", and every
// "bullhorntest: … is not implemented by the fake" (501).
//
// # Observing
//
// [Server.State] (also served at /_sandbox/state) counts candidates, duplicates by email and
// duplicate education and work history rows, files, sessions opened, live and most live at
// once, logins, token requests by grant type, reused codes and refresh tokens, requests by
// "METHOD route status", 429s, and keeps the last refused requests with their messages.
// [Server.Candidates] returns what was written.
package bullhorntest
