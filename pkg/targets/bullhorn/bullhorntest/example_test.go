package bullhorntest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
)

// The whole headless flow: loginInfo names the data centre, authorize answers a redirect whose
// Location carries the code (not to be followed), the code buys tokens once, login opens a
// session whose restUrl prefixes every call, and Bullhorn refuses what it does not know.
func ExampleNewServer() {
	srv := bullhorntest.NewServer(bullhorntest.Config{BaseURL: "/bullhorn", CorpToken: "abc123"})
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, target, body string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		var v map[string]any
		_ = json.Unmarshal(data, &v)
		return res, v
	}

	_, info := send(http.MethodGet, srv.LoginInfoURL()+"?username="+bullhorntest.DefaultUsername, "")
	oauthURL, restURL := info["oauthUrl"].(string), info["restUrl"].(string)

	res, _ := send(http.MethodPost, oauthURL+"/authorize?"+url.Values{
		"client_id": {bullhorntest.DefaultClientID}, "response_type": {"code"}, "action": {"Login"},
		"username": {bullhorntest.DefaultUsername}, "password": {bullhorntest.DefaultPassword},
	}.Encode(), "")
	loc, _ := url.Parse(res.Header.Get("Location"))
	fmt.Println("authorize:", res.StatusCode)

	res, tok := send(http.MethodPost, oauthURL+"/token?"+url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {bullhorntest.DefaultClientID}, "client_secret": {bullhorntest.DefaultClientSecret},
	}.Encode(), "")
	fmt.Println("token:", res.StatusCode, tok["expires_in"])

	res, sess := send(http.MethodPost, restURL+"/login?version=2.0&access_token="+url.QueryEscape(tok["access_token"].(string)), "")
	rest := sess["restUrl"].(string)
	fmt.Println("login:", res.StatusCode, strings.TrimPrefix(rest, srv.URL()))

	bh := "?BhRestToken=" + sess["BhRestToken"].(string)
	res, created := send(http.MethodPut, rest+"entity/Candidate"+bh,
		`{"firstName":"Ada","lastName":"Lovelace","name":"Ada Lovelace","email":"ada+hrflow@example.com"}`)
	fmt.Println("create:", res.StatusCode, created["changeType"])

	res, refused := send(http.MethodPut, rest+"entity/CandidateWorkHistory"+bh,
		fmt.Sprintf(`{"candidate":{"id":%v},"title":"Analyst","startDate":"1842-09-01"}`, created["changedEntityId"]))
	fmt.Println("work history:", res.StatusCode, refused["errors"].([]any)[0].(map[string]any)["detailMessage"])

	res, found := send(http.MethodGet, rest+"search/Candidate"+bh+"&fields=id,email&query="+
		url.QueryEscape(`(email:ada\+hrflow@example.com OR email2:ada\+hrflow@example.com) AND isDeleted:0`), "")
	fmt.Println("search:", res.StatusCode, found["total"])
	// Output:
	// authorize: 302
	// token: 200 600
	// login: 200 /rest-services/abc123/
	// create: 200 INSERT
	// work history: 400 'startDate' is a Timestamp: epoch milliseconds as a JSON number, got "1842-09-01"
	// search: 200 1
}
