// Package consent authorises connections (ATS accounts) with the account's consent: the one
// implementation of "exchange the code once, store the tokens, check them" ([JobAdder]), used
// by `enqueue connect` and by the gateway's consent flow ([Handler]).
//
// # The consent flow through the gateway
//
// An operator runs `enqueue connect NAME --target jobadder --gateway https://gw.example`. It
// stores a single-use link ([NewLink]) in the flows bucket (jobs.ConsentBucket) and prints it.
// Opening the link is what authenticates the operator: only who may write to that bucket (the
// operators' NATS user) can make one, it works once, for 10 minutes, and only for the
// connection it names. GET /connect/NAME takes the link, sets a session cookie (a random nonce;
// Secure, HttpOnly, SameSite=Lax, scoped to the callback's path), stores a random state with
// the hash of the nonce, the connection and the target (single use, 10 minutes), and redirects
// to JobAdder's authorize URL. JobAdder redirects the browser to GET /oauth/callback with the
// code and the state; the callback checks the state against the cookie, deletes it with a
// compare-and-swap (of two replicas or requests, one wins), and exchanges the code once.
//
// Every record lives in NATS, under the hash of its secret, so any replica of the gateway can
// serve any step. Links, states and codes are never logged; they appear only in the URLs of
// the flow, each usable once.
//
// # Bullhorn
//
// Bullhorn has no consent in a browser: its API user logs in headless. The gateway refuses
// /connect for it with a problem naming `enqueue connect NAME --target bullhorn`, which checks
// the login; so the gateway holds no Bullhorn secret and no HRPUSH_SECRETS_KEY.
package consent
