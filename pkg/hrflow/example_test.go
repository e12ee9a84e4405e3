package hrflow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/transport"
)

// Example reads a profile and downloads its resume, from a fake HrFlow server.
func Example() {
	const sourceKey = "91456df437fbd49a566adc5e0b0b33d13b115d06"
	srv := hrflowtest.NewServer(hrflowtest.Config{APIKey: "api-secret", UserEmail: "ops@example.com"})
	defer srv.Close()
	srv.LoadSamples(sourceKey)

	guard, err := transport.NewGuard(transport.Policy{Allow: []string{"127.0.0.0/8"}})
	if err != nil {
		log.Fatal(err)
	}
	client, err := hrflow.New(
		hrflow.WithBaseURL(srv.URL()), // omit to use https://api.hrflow.ai/v1/
		hrflow.WithAPISecret(secret.Value("api-secret")),
		hrflow.WithUserEmail("ops@example.com"),
		// Resume links come from outside, so downloads refuse private addresses and plain http
		// unless allowed: the fake serves its files on http://127.0.0.1.
		hrflow.WithDownloadClient(guard.Client(8, hrflow.DefaultDownloadTimeout)),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	profile, _, err := client.Profiles.Get(ctx, sourceKey, hrflowtest.SampleProfileKey)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(profile.Info.FullName, profile.Info.Location.Fields.Country)

	resume, contentType, err := client.Download(ctx, profile.Resume().PublicURL)
	if err != nil {
		log.Fatal(err)
	}
	defer resume.Close()
	head := make([]byte, 5)
	if _, err := io.ReadFull(resume, head); err != nil {
		log.Fatal(err)
	}
	fmt.Println(contentType, string(head))

	// A missing profile is a permanent error that matches ErrNotFound.
	_, _, err = client.Profiles.Get(ctx, sourceKey, "0000000000000000000000000000000000000000")
	var er *hrflow.ErrorResponse
	if errors.As(err, &er) {
		fmt.Println(errors.Is(err, hrflow.ErrNotFound), er.Permanent(), er.Message)
	}
	// Output:
	// Harry Potter FRA
	// application/pdf %PDF-
	// true true Invalid parameters. Unable to find object: profile
}
