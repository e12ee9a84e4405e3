package jobadder

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"
)

// MaxAttachmentSize is the largest file [CandidatesService.UploadAttachment] sends. The file
// is buffered so that the request can be sent again after a token renewal.
const MaxAttachmentSize = 20 << 20

// ErrAttachmentTooLarge is returned by [CandidatesService.UploadAttachment] for a file larger
// than [MaxAttachmentSize].
var ErrAttachmentTooLarge = errors.New("jobadder: attachment larger than 20 MiB")

// copyBuffers are the buffers UploadAttachment copies files with.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// CandidatesService handles the candidates of an account.
type CandidatesService service

// CandidateSummary is a candidate as listed by GET /candidates.
type CandidateSummary struct {
	CandidateID int    `json:"candidateId"`
	FirstName   string `json:"firstName,omitempty"`
	LastName    string `json:"lastName,omitempty"`
	Email       string `json:"email,omitempty"`
	Phone       string `json:"phone,omitempty"`
	Mobile      string `json:"mobile,omitempty"`
	Source      string `json:"source,omitempty"`
	// CreatedAt and UpdatedAt are ISO date-times as JobAdder wrote them.
	CreatedAt string `json:"createdAt,omitempty"`
	UpdatedAt string `json:"updatedAt,omitempty"`
}

// Candidate is a candidate as returned by POST /candidates and GET /candidates/{id}.
type Candidate struct {
	CandidateSummary
	Summary   string   `json:"summary,omitempty"`
	SkillTags []string `json:"skillTags,omitempty"`
}

// CandidateList is a page of candidates.
type CandidateList struct {
	Items      []CandidateSummary `json:"items"`
	TotalCount int                `json:"totalCount"`
}

// Attachment is a file attached to a candidate.
type Attachment struct {
	AttachmentID int64  `json:"attachmentId"`
	CandidateID  int    `json:"candidateId,omitempty"`
	Type         string `json:"type,omitempty"`
	FileName     string `json:"fileName,omitempty"`
	FileType     string `json:"fileType,omitempty"`
}

// ListOptions filter GET /candidates. Zero fields are not sent.
type ListOptions struct {
	Email  string
	Name   string
	Offset int
	// Limit is the page size: JobAdder's default is 100, its maximum 1000.
	Limit int
}

func (o *ListOptions) values() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Email != "" {
		q.Set("Email", o.Email)
	}
	if o.Name != "" {
		q.Set("Name", o.Name)
	}
	if o.Offset > 0 {
		q.Set("Offset", strconv.Itoa(o.Offset))
	}
	if o.Limit > 0 {
		q.Set("Limit", strconv.Itoa(o.Limit))
	}
	return q
}

// Add creates a candidate (POST /candidates) from body, an AddCandidateCommand. A 409 answer
// is a [*ConflictError]; allowDuplicatesCode, its OverrideCode, forces the creation.
func (s *CandidatesService) Add(ctx context.Context, body any, allowDuplicatesCode string) (*Candidate, *Response, error) {
	r, err := jsonRequest(http.MethodPost, body, allowDuplicatesCode, "candidates")
	if err != nil {
		return nil, nil, err
	}
	c := new(Candidate)
	resp, err := s.client.do(ctx, r, c)
	if err != nil {
		return nil, resp, err
	}
	if c.CandidateID == 0 {
		return nil, resp, errors.New("jobadder: POST /candidates answered without a candidate id")
	}
	return c, resp, nil
}

// Update replaces candidate id (PUT /candidates/{id}) with body, an UpdateCandidateCommand
// (no source). allowDuplicatesCode is as for [CandidatesService.Add].
func (s *CandidatesService) Update(ctx context.Context, id int, body any, allowDuplicatesCode string) (*Response, error) {
	r, err := jsonRequest(http.MethodPut, body, allowDuplicatesCode, "candidates", strconv.Itoa(id))
	if err != nil {
		return nil, err
	}
	return s.client.do(ctx, r, nil)
}

// Get returns candidate id.
func (s *CandidatesService) Get(ctx context.Context, id int) (*Candidate, *Response, error) {
	c := new(Candidate)
	resp, err := s.client.do(ctx, &request{method: http.MethodGet, path: []string{"candidates", strconv.Itoa(id)}}, c)
	if err != nil {
		return nil, resp, err
	}
	return c, resp, nil
}

// List returns one page of the candidates matching opts.
func (s *CandidatesService) List(ctx context.Context, opts *ListOptions) (*CandidateList, *Response, error) {
	l := new(CandidateList)
	r := &request{method: http.MethodGet, path: []string{"candidates"}, query: opts.values()}
	resp, err := s.client.do(ctx, r, l)
	if err != nil {
		return nil, resp, err
	}
	return l, resp, nil
}

// ListIter returns all the candidates matching opts, page after page, from opts.Offset.
func (s *CandidatesService) ListIter(ctx context.Context, opts *ListOptions) iter.Seq2[*CandidateSummary, error] {
	return func(yield func(*CandidateSummary, error) bool) {
		var o ListOptions
		if opts != nil {
			o = *opts
		}
		for {
			l, _, err := s.List(ctx, &o)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range l.Items {
				if !yield(&l.Items[i], nil) {
					return
				}
			}
			o.Offset += len(l.Items)
			if len(l.Items) == 0 || o.Offset >= l.TotalCount {
				return
			}
		}
	}
}

// UploadAttachment attaches the file read from r to candidate id (POST
// /candidates/{id}/attachments/{attachType}, multipart part fileData). attachType is one of
// JobAdder's attachment types: Resume, FormattedResume, CoverLetter, Screening, Check,
// Reference, License or Other. Files over [MaxAttachmentSize] return [ErrAttachmentTooLarge].
func (s *CandidatesService) UploadAttachment(ctx context.Context, id int, attachType, fileName, contentType string, r io.Reader) (*Attachment, *Response, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Disposition": {mime.FormatMediaType("form-data", map[string]string{"name": "fileData", "filename": fileName})},
		"Content-Type":        {cmp.Or(contentType, "application/octet-stream")},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("jobadder: attachment: %w", err)
	}
	// A copy buffer from the pool: io.Copy would allocate 32 KiB for every file, since neither
	// a part nor a limited reader has the methods that let it copy without one.
	cb := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(part, io.LimitReader(r, MaxAttachmentSize+1), *cb)
	copyBuffers.Put(cb)
	if err != nil {
		return nil, nil, fmt.Errorf("jobadder: read attachment: %w", err)
	}
	if n > MaxAttachmentSize {
		return nil, nil, ErrAttachmentTooLarge
	}
	if err := mw.Close(); err != nil {
		return nil, nil, fmt.Errorf("jobadder: attachment: %w", err)
	}
	req := &request{
		method:      http.MethodPost,
		path:        []string{"candidates", strconv.Itoa(id), "attachments", attachType},
		contentType: mw.FormDataContentType(),
		body:        buf.Bytes(),
	}
	a := new(Attachment)
	resp, err := s.client.do(ctx, req, a)
	if err != nil {
		return nil, resp, err
	}
	return a, resp, nil
}

// jsonRequest builds a request with a JSON body and the duplicate override code, if any.
func jsonRequest(method string, body any, allowDuplicatesCode string, path ...string) (*request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("jobadder: encode body: %w", err)
	}
	r := &request{method: method, path: path, contentType: "application/json", body: b}
	if allowDuplicatesCode != "" {
		r.header = http.Header{headerAllowDuplicates: {allowDuplicatesCode}}
	}
	return r, nil
}
