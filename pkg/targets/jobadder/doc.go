// Package jobadder writes candidates to JobAdder API v2.
//
// [Target] implements [targets.Target] on top of [Client], whose [CandidatesService] creates,
// updates, finds and attaches files to candidates. [Auth] supplies the client's access tokens,
// and [Format] is the built-in format from an HrFlow profile to a JobAdder candidate.
//
// # Authentication
//
// JobAdder uses the OAuth2 authorization-code flow: a user opens [Auth.AuthCodeURL], approves
// the app, and JobAdder redirects to the app's redirect URI with a code that works once and
// for 5 minutes. The code yields an access token (60 minutes), a rotating refresh token (a new
// one with every refresh, void after 2 weeks unused) and the account's API base URL (api),
// which the client uses for every call: no API host is hard-coded.
//
// All workers share one token record in a KV bucket, the only place tokens are kept. The
// first worker to need a token takes a lease on the record (a KV create only one worker wins),
// exchanges the code and stores the tokens, while the others wait for the record to change.
// The record keeps a hash of the code, so that no worker sends the same code twice. Refreshes
// are serialised the same way, with a lease written by compare-and-swap: the lease holder
// refreshes and stores both new tokens; a lease older than 30 s may be taken over. Each worker
// keeps the token in memory and reads the record again only when the token is due for renewal
// or the API answered 401 ([Auth.Invalidate]). A token is due a fifth of its lifetime before
// it expires, at most a minute before ([targets.RenewMargin]); the record keeps when the
// token was issued, so that every worker renews it at the same time.
//
// Each connection (a JobAdder account, [AuthConfig].Connection) has its own token record:
// "jobadder." and the start of the client id's hash, followed by "." and the connection's name
// except for the default connection, whose record is the one stored before connections existed.
//
// When JobAdder refuses the refresh token, a newly configured authorization code is exchanged;
// without one, [Auth.Token] returns a [*targets.CredentialsError] naming the connection and
// telling the operator to authorise the app again (`enqueue connect <name>`). A refused code or
// client secret is a credentials error too. A worker killed between JobAdder's answer to a
// refresh and the record's update takes the rotated refresh token with it; no client can close
// that window, and the next refresh is refused (see [Auth.Token]).
//
// # Idempotency
//
// A second KV bucket maps each HrFlow profile (source key, profile key) to its candidate id.
// A profile with a known id is updated with PUT /candidates/{id} (re-created if JobAdder
// deleted it); an unknown one is created with POST /candidates and its id stored at once, before
// the resume is uploaded (the resume is downloaded while the candidate is created, and opened
// before the id is stored, so that the same write marks its upload, see below). The resume is uploaded once, as the candidate's Resume attachment,
// and the record remembers it with its HrFlow hash: a later push uploads the resume again only
// when its hash changed (a new resume is added; JobAdder keeps the earlier ones). A redelivered
// job therefore updates what the first delivery created, and retries only what it did not
// finish.
//
// A worker can die, or lose JobAdder's answer, after JobAdder created the candidate or stored
// the resume and before the record says so. A candidate with an email is then found by
// JobAdder's duplicate check (see Duplicates). For the others (no email, or duplicates
// allowed) the record is marked before the creation with its time and job; a push that finds
// the mark without an id lists the candidates with the payload's name (or email) and takes
// the one with the same names, email, phone and mobile created since the mark (less a minute
// of clock skew) before creating one. JobAdder has no exactly searchable field for the
// profile, so two such profiles with the same name and phone created within that minute could
// be taken for each other. The resume upload is marked the same way, and a push that finds
// the mark looks for a Resume attachment of the same file name uploaded since.
//
// # Duplicates
//
// JobAdder answers 409 ([*ConflictError]) when a candidate with the same email exists, with a
// duplicate override code. When the item allows duplicates, the target sends the request again
// with that code and creates a new candidate. Otherwise it looks the email up with
// GET /candidates?Email= and updates the first candidate with exactly that email (ignoring
// case); with no such candidate the push fails permanently.
//
// # Format
//
// [Format] maps the HrFlow fields of the reference connector's format_profile_to_jobadder onto
// the field names of JobAdder's OpenAPI document:
//
//   - firstName and lastName (split from full_name when both are missing), email, phone,
//     dateOfBirth (YYYY-MM-DD), summary, and source "HrFlow";
//   - address: street (house number and road), city, state, postalCode, and countryCode,
//     the ISO 3166-1 alpha-2 code of HrFlow's alpha-3 country;
//   - skillTags: the skill names, without duplicates, at most 100;
//   - education: institution (school), course (title, else description) and date (end date);
//   - employment: history (employer, position, start, end or "Present", description) and
//     current, the ongoing experience or else the latest ended one;
//   - social: the linkedin, github, twitter and facebook URLs.
//
// Empty values are left out and strings are cut to the schema's maximum lengths, so that a
// valid profile never gets a 422; an email too long for JobAdder is left out rather than cut.
//
// # Errors
//
// [CheckResponse] turns error answers into [*targets.ErrorResponse] values carrying JobAdder's
// field errors (a 422 is permanent), [*targets.RateLimitError] for 429 (with Retry-After) and
// [*ConflictError] for 409. The client renews the token once on 401 and otherwise never
// retries: retries belong to the job runtime.
package jobadder
