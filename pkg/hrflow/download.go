package hrflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Download fetches an attachment's public URL ([Attachment] PublicURL) and returns its body and
// content type. The caller closes the body.
//
// The URL points at a file host (S3), not at the API, so no HrFlow credentials are sent, and
// it comes from outside: the download client (see [WithDownloadClient]) decides which hosts and
// addresses it may reach; a URL it refuses gives an error wrapping a
// [*transport.RefusedError], which is permanent. An error answer is a [*DownloadError]. Errors
// name the URL without its query, which may hold a pre-signed URL's signature.
func (c *Client) Download(ctx context.Context, rawURL string) (io.ReadCloser, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", errors.New("hrflow: download: unreadable url")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("hrflow: download %q: not an absolute http or https url", downloadURL(u))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("hrflow: download %s: %w", downloadURL(u), err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.downloads.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.URL = downloadURL(u)
		}
		return nil, "", fmt.Errorf("hrflow: download: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		closeBody(resp.Body)
		return nil, "", &DownloadError{URL: downloadURL(u), StatusCode: resp.StatusCode}
	}
	return resp.Body, resp.Header.Get("Content-Type"), nil
}

// DownloadError is an error answer to [Client.Download]. It is not an [*ErrorResponse]: the
// file host's 403 means a refused or expired link, not refused HrFlow credentials.
type DownloadError struct {
	URL        string // without user info, query or fragment
	StatusCode int
}

func (e *DownloadError) Error() string {
	return fmt.Sprintf("hrflow: download %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// Permanent reports whether downloading again cannot succeed: a 4xx other than 408 and 429
// (the file is gone or the link refused). 5xx answers are transient.
func (e *DownloadError) Permanent() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return e.StatusCode >= 400 && e.StatusCode < 500
}

// downloadURL is u without user info, query and fragment, for errors and logs: a file link's
// query is its signature.
func downloadURL(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return c.String()
}
