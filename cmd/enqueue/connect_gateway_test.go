package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/consent"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// TestConnectThroughGateway: `enqueue connect NAME --gateway URL` prints a link; a browser
// that opens it ends on the gateway's page naming the account, and `enqueue connections list`
// then shows the connection authorised. Not parallel: it sets the environment.
func TestConnectThroughGateway(t *testing.T) {
	url, js := natsServer(t)
	tokens, err := js.KeyValue(t.Context(), jobs.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	conns, err := js.KeyValue(t.Context(), jobs.ConnectionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	flows, err := js.KeyValue(t.Context(), jobs.ConsentBucket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw := httptest.NewUnstartedServer(mux)
	callback := "https://" + gw.Listener.Addr().String() + "/oauth/callback"
	ja := jobaddertest.NewServer(jobaddertest.Config{RedirectURI: callback})
	t.Cleanup(ja.Close)
	jc := ja.Config()
	h, err := consent.NewHandler(consent.Config{
		JobAdder: jobadder.AuthConfig{ClientID: jc.ClientID, ClientSecret: secret.Value(jc.ClientSecret), RedirectURI: callback,
			AuthorizationURL: ja.AuthURL(), TokenURL: ja.TokenURL(), Tokens: tokens},
		Connections: connections.NewStore(conns),
		Flows:       flows,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)
	gw.StartTLS()
	t.Cleanup(gw.Close)
	t.Setenv("JOBADDER_CLIENT_ID", jc.ClientID) // for the listing's authorisation column

	if code, out, errOut := runCLI(t, "connect", "acme", "--target", "jobadder", "--gateway", gw.URL, "--code", "c", "--nats-url", url); code != exitUsage ||
		!strings.Contains(errOut, "without --code") {
		t.Errorf("--gateway with --code: %d %s%s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, "connect", "acme", "--target", "jobadder", "--gateway", gw.URL, "--nats-url", url)
	link := regexp.MustCompile(`https://\S+/connect/acme\?target=jobadder&token=\S+`).FindString(out)
	if code != exitOK || link == "" {
		t.Fatalf("connect --gateway: %d %s%s", code, out, errOut)
	}

	browser := *gw.Client()
	if browser.Jar, err = cookiejar.New(nil); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "JobAdder connection acme is authorised") {
		t.Fatalf("the link: %d %s", res.StatusCode, page)
	}
	if code, out, errOut := runCLI(t, "connections", "list", "--nats-url", url); code != exitOK || !strings.Contains(out, "authorised, access token until") {
		t.Errorf("list: %d %s%s", code, out, errOut)
	}
}
