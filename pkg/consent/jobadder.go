package consent

import (
	"context"
	"fmt"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/jobadder"
)

// Account is the JobAdder account a connection reached with its new token.
type Account struct {
	Connection string
	// APIURL is the account's API base, from the token response (e.g. https://api.jobadder.com/v2).
	APIURL string
	// Candidates is the account's number of candidates, read by the check call.
	Candidates int
	// Expiry is when the access token expires (the workers renew it before).
	Expiry time.Time
}

// CheckError is returned by [JobAdder] when the token was exchanged and stored but the check
// call failed: the connection is authorised, the account did not answer as expected.
type CheckError struct {
	Connection string
	Err        error
}

func (e *CheckError) Error() string {
	return "jobadder connection " + e.Connection + ": the token was stored, but the check call failed: " + e.Err.Error()
}

func (e *CheckError) Unwrap() error { return e.Err }

// JobAdder authorises the JobAdder connection cfg.Connection with cfg.AuthorizationCode: it
// exchanges the code once (never retried: JobAdder's codes are single-use and valid 5
// minutes), even over a token the connection holds, stores the tokens in cfg.Tokens under the
// connection, where every worker finds them from its next job (a connection paused for refused
// credentials resumes), and checks them with one API call. It is the one implementation of
// `enqueue connect` and of the gateway's /oauth/callback.
//
// A refused code is a [*targets.CredentialsError] and stores no token; a failed check is a
// [*CheckError]. Error messages name the connection and never hold a secret.
func JobAdder(ctx context.Context, cfg jobadder.AuthConfig) (*Account, error) {
	auth, err := jobadder.NewAuth(cfg)
	if err != nil {
		return nil, err
	}
	name := cfg.Connection
	if name == "" {
		name = jobadder.DefaultConnection
	}
	tok, err := auth.Exchange(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobadder connection %s: %w", name, err)
	}
	var opts []jobadder.Option
	if cfg.HTTPClient != nil {
		opts = append(opts, jobadder.WithHTTPClient(cfg.HTTPClient))
	}
	client, err := jobadder.New(auth, opts...)
	if err != nil {
		return nil, err
	}
	list, _, err := client.Candidates.List(ctx, &jobadder.ListOptions{Limit: 1})
	if err != nil {
		return nil, &CheckError{Connection: name, Err: err}
	}
	return &Account{Connection: name, APIURL: tok.APIURL, Candidates: list.TotalCount, Expiry: tok.Expiry}, nil
}
