package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hrpush/hrpush/pkg/transport"
)

// bareLoop is BenchmarkPush's yardstick: slots goroutines making exactly the calls hrpush
// makes for a new profile with a resume, and nothing else — read the profile from HrFlow,
// download its resume, create a candidate in JobAdder, upload the resume — on one pooled
// transport. No queue, no record, no format: what a client that costs next to nothing reaches
// against the same fakes on the same machine. It authorises with its own code, and its
// candidates have emails of their own, so that they do not meet hrpush's.
type bareLoop struct {
	t        testing.TB
	hrflow   string // API base URL
	jobadder string // API base URL, from the token answer
	token    string
	client   *http.Client
}

// newBareLoop exchanges the fakes' second authorization code for a JobAdder token.
func newBareLoop(t testing.TB, f *fakes, slots int) *bareLoop {
	t.Helper()
	oc := oauth2.Config{
		ClientID: f.info.ClientID, ClientSecret: f.info.ClientSecret, RedirectURL: f.info.RedirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: f.info.AuthURL, TokenURL: f.info.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	tok, err := oc.Exchange(t.Context(), f.info.LoopCode)
	if err != nil {
		t.Fatalf("bare loop: token: %v", err)
	}
	api, _ := tok.Extra("api").(string)
	if api == "" {
		t.Fatal("bare loop: the token answer has no api")
	}
	return &bareLoop{
		t: t, hrflow: f.info.HrFlowURL, jobadder: api, token: tok.AccessToken,
		client: transport.Client(slots, time.Minute),
	}
}

// run pushes keys, slots at a time, and returns how long it took.
func (l *bareLoop) run(keys []string, slots int) time.Duration {
	l.t.Helper()
	ctx, cancel := context.WithCancel(l.t.Context())
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	start := time.Now()
	for range slots {
		wg.Go(func() {
			for i := range next {
				if err := l.push(ctx, keys[i], i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range keys {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	l.client.CloseIdleConnections()
	if first != nil {
		l.t.Fatalf("bare loop: %v", first)
	}
	return took
}

// push makes the four calls of one profile.
func (l *bareLoop) push(ctx context.Context, key string, i int) error {
	q := url.Values{"source_key": {testSource}, "key": {key}}
	var profile struct {
		Data struct {
			Info struct {
				FirstName string `json:"first_name"`
				LastName  string `json:"last_name"`
			} `json:"info"`
			Attachments []struct {
				Type      string `json:"type"`
				FileName  string `json:"file_name"`
				PublicURL string `json:"public_url"`
			} `json:"attachments"`
		} `json:"data"`
	}
	hrflow := http.Header{"X-API-KEY": {testKey}, "X-USER-EMAIL": {testUser}}
	if err := l.call(ctx, http.MethodGet, l.hrflow+"/profile/indexing?"+q.Encode(), hrflow, nil, "", &profile); err != nil {
		return err
	}
	var resume []byte
	name := "resume.pdf"
	for _, a := range profile.Data.Attachments {
		if a.Type != "resume" {
			continue
		}
		if err := l.call(ctx, http.MethodGet, a.PublicURL, nil, nil, "", &resume); err != nil {
			return err
		}
		if a.FileName != "" {
			name = a.FileName
		}
	}
	body, err := json.Marshal(map[string]string{
		"firstName": profile.Data.Info.FirstName, "lastName": profile.Data.Info.LastName,
		"email": fmt.Sprintf("bare-loop-%d@example.com", i),
	})
	if err != nil {
		return err
	}
	auth := http.Header{"Authorization": {"Bearer " + l.token}}
	var created struct {
		CandidateID int `json:"candidateId"`
	}
	if err := l.call(ctx, http.MethodPost, l.jobadder+"/candidates", auth, body, "application/json", &created); err != nil {
		return err
	}
	if resume == nil {
		return nil
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	part, err := mw.CreateFormFile("fileData", name)
	if err != nil {
		return err
	}
	if _, err := part.Write(resume); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	path := fmt.Sprintf("%s/candidates/%d/attachments/Resume", l.jobadder, created.CandidateID)
	return l.call(ctx, http.MethodPost, path, auth, form.Bytes(), mw.FormDataContentType(), nil)
}

// call makes one request and decodes a 2xx answer into v (a *[]byte takes the body as it is).
func (l *bareLoop) call(ctx context.Context, method, u string, h http.Header, body []byte, contentType string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %.300s", method, req.URL.Path, resp.Status, b)
	}
	switch v := v.(type) {
	case nil:
		return nil
	case *[]byte:
		*v = b
		return nil
	default:
		return json.Unmarshal(b, v)
	}
}
