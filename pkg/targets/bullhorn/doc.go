// Package bullhorn writes candidates to the Bullhorn REST API.
//
// [Target] implements [targets.Target] on top of [Client], whose services create and update
// candidates ([CandidatesService]), their education and work-history rows
// ([EducationsService], [WorkHistoriesService]) and attach files ([FilesService]). [Auth]
// opens the client's REST sessions, [RateLimiter] paces its calls, and [Format] is the
// built-in format from an HrFlow profile to a Bullhorn payload.
//
// # Authentication and sessions
//
// No Bullhorn host is hard-coded. [Auth] first asks loginInfo (following a 307 to the right
// data centre) for the account's oauthUrl and restUrl. It then posts the client id, the API
// user's username and password and action=Login to oauthUrl/authorize and reads the
// authorization code from the redirect's Location without following it. A 200 page instead
// of the redirect is either the login form again (a page with a password field: wrong username
// or password) or the consent page: the API user has not accepted Bullhorn's terms of service
// for the client, which must be done once in a browser. The code is exchanged at oauthUrl/token (with
// golang.org/x/oauth2, parameters in the form body) for an access token (10 minutes) and a
// refresh token (single-use: each refresh returns a new one). Finally restUrl/login with the
// access token and a ttl (default 60 minutes) opens the REST session: a BhRestToken, sent in
// the BhRestToken header so that no URL carries a secret, and the corporate REST URL every call
// goes to.
//
// All workers of an account share one session through a record in a KV bucket, the only
// place tokens are stored; Bullhorn allows an account few concurrent sessions. Each worker
// keeps the session in memory and reads the record again only when the session is due for
// renewal (a fifth of its lifetime before it expires, at most a minute before:
// [targets.RenewMargin]; the record keeps when the session and the access token were issued,
// so that every worker computes the same time) or an API call was answered 401 or 412
// ([Auth.Invalidate]), after which the client sends the call once more. A worker that finds no valid session in the record takes a
// lease on it by compare-and-swap and renews the session while the others wait for the record
// to change; a lease older than a minute may be taken over. The lease holder logs in with the
// stored access token if it is still valid, else refreshes it (storing the new refresh token
// before using it), else, when no refresh token is stored or Bullhorn refused it, goes through
// the username and password flow again. [Auth.SessionsOpened] counts the logins.
//
// Refused credentials (unknown user, terms not accepted, wrong password or client secret)
// are a [*targets.CredentialsError] naming the connection ([AuthConfig].Connection), what to
// check and `enqueue connect <name>` to check the login again: the job runtime pauses
// the target instead of dead-lettering jobs. The refusal is recorded for a minute, during
// which the other workers return it without sending the password again.
//
// # Rate limit
//
// Bullhorn allows 1,500 calls per minute per account and answers 429 beyond. A [RateLimiter]
// keeps all workers of an account under a budget per minute (default 1,500): the calls of the
// current minute are counted in a KV key that workers increase by compare-and-swap, claiming
// 10 calls at a time, and a worker whose minute is spent waits for the next one. A 429 is a
// [*targets.RateLimitError] waiting Retry-After, at least a second. The client never retries on
// its own except once after a 401 or 412: retries belong to the job runtime.
//
// # Upsert and duplicates
//
// Bullhorn has no duplicate detection and its search index lags behind writes. A push holds a
// lock on the candidate's email (on the profile when the payload has no email or allows
// duplicates): a key created in the Locks bucket with a per-key TTL (LockTTL, 10 s), which the
// holder renews every LockTTL/4 while its push runs, so that a dead worker's lock frees itself
// within LockTTL while a slow push keeps its own; a push that cannot renew its lock stops. Then:
//
//   - with the candidate id the IDs bucket remembers for the profile, updates it
//     (POST entity/Candidate/{id});
//   - otherwise with the candidate id remembered for the email, or else the oldest candidate a
//     search finds with (email:X OR email2:X OR email3:X) AND isDeleted:0, updates that one;
//   - otherwise records in the profile's record that it is creating the candidate (when, and
//     by which job), creates it (PUT entity/Candidate) with the externalID "hrflow:" and a hash
//     of the profile, and stores its id for the profile and the email before anything else.
//
// A push that finds that mark without an id (the worker died, or the answer was lost, after
// Bullhorn may have created the candidate) looks for the candidate by its email, or else by
// externalID, and waits until IndexLag (30 s) after that creation, for the search index to show
// it, before creating another. A creation Bullhorn answered with an error clears the mark.
//
// Each education and work-history row is then updated if the profile's record knows its id,
// and otherwise created with "candidate": {"id": N} and its id recorded at once. When the
// candidate was not created by this push, a row unknown to the record is first matched to the
// candidate's existing rows (same school or companyName and startDate), so that a lost record
// or a candidate found by email does not get its rows twice. Rows dropped from the profile are
// left in Bullhorn. The resume is uploaded once (PUT file/Candidate/{id}, base64, externalID
// "hrflow-" and a hash of the profile and file name, type Resume): the record and, for a
// candidate not created by this push, its file attachments tell whether it already was. A
// redelivered or re-pushed profile therefore updates and never duplicates.
//
// # Payload shape
//
// The payload, built by [Format] or by a custom jq format, is a Candidate object (Bullhorn's
// field names) with two optional reserved members that are not sent with it:
//
//	{
//	  "name": "Harry Potter", "firstName": "Harry", "lastName": "Potter",
//	  "email": "harry.potter@example.com", "dateOfBirth": 650160000000, ...,
//	  "educations": [
//	    {"key": "c3d4…", "school": "Hogwarts", "degree": "…", "startDate": 1451606400000}
//	  ],
//	  "workHistories": [
//	    {"key": "a1b2…", "companyName": "Ministry", "title": "Auror", "isLastJob": true}
//	  ]
//	}
//
// educations and workHistories are lists of CandidateEducation and CandidateWorkHistory
// objects. Their member "key" identifies the row across pushes (use HrFlow's education or
// experience key) and is not sent; without it a row is identified by its school or
// companyName and startDate. The target sets each row's candidate. Neither the candidate nor a
// row may set "id", Bullhorn's read-only primary key: such a payload fails permanently.
// Timestamps are epoch milliseconds.
//
// # Format
//
// [Format] maps the HrFlow fields of the reference connector's Bullhorn format_profile,
// without its defects:
//
//   - name (the full name, sent explicitly as Bullhorn does not derive it), firstName and
//     lastName (split from the full name when both are missing), email, mobile (the profile's
//     phone), dateOfBirth, experience (whole years of experience), skillSet (the skill names,
//     comma-separated), description (the profile's text, else its summary) and source "HrFlow";
//   - address: address1 (house number and road), city, state and zip; countryID is an
//     account-specific integer and is left out;
//   - educations: school, degree (title), comments (description), city, startDate, endDate;
//   - workHistories: companyName, title, comments (description), startDate, endDate, and
//     isLastJob for the ongoing experience or else the latest ended one.
//
// Dates are epoch milliseconds, strings are cut to Bullhorn's column sizes (work-history title
// 50, phone 20, first and last names 50, name 100, ...), an email or phone too long to fit is left out rather than cut,
// and no id is set.
package bullhorn
