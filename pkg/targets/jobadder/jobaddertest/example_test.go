package jobaddertest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// The identity server hands out a code, the code buys tokens once, and the access token opens
// the API at the address the token response names.
func ExampleNewServer() {
	srv := jobaddertest.NewServer(jobaddertest.Config{})
	defer srv.Close()

	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {srv.IssueCode()},
		"redirect_uri":  {jobaddertest.DefaultRedirectURI},
		"client_id":     {jobaddertest.DefaultClientID},
		"client_secret": {jobaddertest.DefaultClientSecret},
	}
	res, err := http.PostForm(srv.TokenURL(), form)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("token:", res.StatusCode)

	tok := srv.IssueToken()
	req, _ := http.NewRequest(http.MethodPost, tok.API+"/candidates",
		strings.NewReader(`{"firstName":"Ada","address":{"postcode":"SW1"}}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, string(body))
	fmt.Println("candidates:", srv.State().Candidates)
	// Output:
	// token: 200
	// 422 {"message":"Validation error","errors":[{"code":"Invalid","message":"property \"postcode\" is unsupported","fields":["address.postcode"]}]}
	// candidates: 0
}
