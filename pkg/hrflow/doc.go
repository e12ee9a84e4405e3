// Package hrflow is a client for the HrFlow.ai API v1, limited to what hrpush needs: reading
// profiles and downloading their attachments.
//
// # Usage
//
// Create one [Client] with [New] and share it; its services group the endpoints by resource:
//
//	client, err := hrflow.New(
//		hrflow.WithAPISecret(apiKey), // a secret.Value: it never prints
//		hrflow.WithUserEmail("ops@example.com"),
//	)
//	if err != nil {
//		return err // names the missing option
//	}
//	profile, _, err := client.Profiles.Get(ctx, sourceKey, profileKey)
//
// [ProfilesService.Get] reads one profile, [ProfilesService.List] one page of a source's
// profiles and [ProfilesService.All] iterates over every page. [Client.Download] fetches an
// attachment such as the one [Profile.Resume] returns.
//
// # Profiles
//
// [Profile] decodes the shapes HrFlow is known to vary between (see its doc) and keeps the
// profile's exact JSON in Profile.Raw, for programs that read fields the model does not name.
//
// # Errors
//
// HTTP answers become errors in one place, [Client.CheckResponse]. HrFlow mirrors an HTTP
// status in the body's "code", and the two may disagree: an answer is an error when either is
// 400 or more. Errors say what kind of failure happened through methods that the job runtime
// reads with errors.As:
//
//   - [*ErrorResponse]: Permanent() for a 4xx such as a missing profile (which also matches
//     [ErrNotFound] with errors.Is); Credentials() for 401 and 403.
//   - [*RateLimitError]: RetryAfter() for 429 and 402 (over plan quota).
//   - [*DownloadError]: Permanent() when an attachment is gone or its link refused.
//
// Anything else (5xx, timeouts, connection errors) is transient. The client never retries:
// the job runtime owns retries. Error strings never contain the API secret.
//
// # Testing
//
// Package hrflowtest provides a fake HrFlow server with generated profiles and fault
// injection.
package hrflow
