package bullhorn

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxFileSize is the largest file [FilesService.Upload] sends: the file travels base64-encoded
// in a JSON body that is kept whole so that it can be sent again after a new login.
const MaxFileSize = 20 << 20

// ErrFileTooLarge is returned by [FilesService.Upload] for a file larger than [MaxFileSize].
var ErrFileTooLarge = errors.New("bullhorn: file larger than 20 MiB")

// maxListCount is the page size of association lists, Bullhorn's maximum.
const maxListCount = 500

// ChangeResult is Bullhorn's answer to an entity create (PUT) or update (POST).
type ChangeResult struct {
	ChangedEntityType string    `json:"changedEntityType"`
	ChangedEntityID   int       `json:"changedEntityId"`
	ChangeType        string    `json:"changeType"` // INSERT or UPDATE
	Messages          []Message `json:"messages,omitempty"`
}

// createEntity creates an entity (PUT entity/{entity}) from body.
func (c *Client) createEntity(ctx context.Context, entity string, body any) (*ChangeResult, *Response, error) {
	r, err := jsonRequest(http.MethodPut, body, "entity", entity)
	if err != nil {
		return nil, nil, err
	}
	res := new(ChangeResult)
	resp, err := c.do(ctx, r, res)
	if err != nil {
		return nil, resp, err
	}
	if res.ChangedEntityID == 0 {
		return nil, resp, fmt.Errorf("bullhorn: PUT entity/%s answered without changedEntityId", entity)
	}
	return res, resp, nil
}

// updateEntity updates the fields of body on entity id (POST entity/{entity}/{id}).
func (c *Client) updateEntity(ctx context.Context, entity string, id int, body any) (*ChangeResult, *Response, error) {
	r, err := jsonRequest(http.MethodPost, body, "entity", entity, strconv.Itoa(id))
	if err != nil {
		return nil, nil, err
	}
	res := new(ChangeResult)
	resp, err := c.do(ctx, r, res)
	if err != nil {
		return nil, resp, err
	}
	return res, resp, nil
}

// listOf returns the first 500 entities of a candidate's to-many association (GET
// entity/Candidate/{id}/{assoc}?fields=...).
func listOf[T any](ctx context.Context, c *Client, candidateID int, assoc, fields string) ([]T, *Response, error) {
	var page struct {
		Data []T `json:"data"`
	}
	r := &request{
		method: http.MethodGet,
		path:   []string{"entity", "Candidate", strconv.Itoa(candidateID), assoc},
		query:  url.Values{"fields": {fields}, "count": {strconv.Itoa(maxListCount)}},
	}
	resp, err := c.do(ctx, r, &page)
	if err != nil {
		return nil, resp, err
	}
	return page.Data, resp, nil
}

// CandidatesService handles the Candidate entity.
type CandidatesService service

// Candidate is a candidate as returned by a search.
type Candidate struct {
	ID               int    `json:"id"`
	FirstName        string `json:"firstName,omitempty"`
	LastName         string `json:"lastName,omitempty"`
	Email            string `json:"email,omitempty"`
	Email2           string `json:"email2,omitempty"`
	Email3           string `json:"email3,omitempty"`
	DateLastModified int64  `json:"dateLastModified,omitempty"` // epoch milliseconds
}

// CandidateList is a page of search results.
type CandidateList struct {
	Total int         `json:"total"`
	Start int         `json:"start"`
	Count int         `json:"count"`
	Data  []Candidate `json:"data"`
}

// SearchOptions shape a search. Zero fields are not sent.
type SearchOptions struct {
	// Fields to return; Bullhorn returns only ids without them.
	Fields []string
	Sort   string
	Start  int
	// Count is the page size; Bullhorn's default is 20.
	Count int
}

// Create creates a candidate (PUT entity/Candidate) from body.
func (s *CandidatesService) Create(ctx context.Context, body any) (*ChangeResult, *Response, error) {
	return s.client.createEntity(ctx, "Candidate", body)
}

// Update updates the fields of body on candidate id (POST entity/Candidate/{id}).
func (s *CandidatesService) Update(ctx context.Context, id int, body any) (*ChangeResult, *Response, error) {
	return s.client.updateEntity(ctx, "Candidate", id, body)
}

// Search runs a Lucene query on the candidate index (GET search/Candidate). The index lags
// behind writes: a candidate created seconds ago may not be found.
func (s *CandidatesService) Search(ctx context.Context, query string, opts *SearchOptions) (*CandidateList, *Response, error) {
	q := url.Values{"query": {query}}
	if opts != nil {
		if len(opts.Fields) > 0 {
			q.Set("fields", strings.Join(opts.Fields, ","))
		}
		if opts.Sort != "" {
			q.Set("sort", opts.Sort)
		}
		if opts.Start > 0 {
			q.Set("start", strconv.Itoa(opts.Start))
		}
		if opts.Count > 0 {
			q.Set("count", strconv.Itoa(opts.Count))
		}
	}
	l := new(CandidateList)
	resp, err := s.client.do(ctx, &request{method: http.MethodGet, path: []string{"search", "Candidate"}, query: q}, l)
	if err != nil {
		return nil, resp, err
	}
	return l, resp, nil
}

// FileAttachment is a file attached to a candidate.
type FileAttachment struct {
	ID          int    `json:"id"`
	Name        string `json:"name,omitempty"`
	ExternalID  string `json:"externalID,omitempty"`
	Type        string `json:"type,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

// FileAttachments returns the first 500 files attached to candidate id.
func (s *CandidatesService) FileAttachments(ctx context.Context, id int) ([]FileAttachment, *Response, error) {
	return listOf[FileAttachment](ctx, s.client, id, "fileAttachments", "id,name,externalID,type,contentType")
}

// EmailQuery is the search query for the live candidates with email as one of their three
// addresses, with email escaped for Lucene.
func EmailQuery(email string) string {
	e := escapeLucene(email)
	return "(email:" + e + " OR email2:" + e + " OR email3:" + e + ") AND isDeleted:0"
}

// escapeLucene escapes the characters that Lucene's query syntax gives a meaning.
func escapeLucene(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`+-&|!(){}[]^"~*?:\/ `, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// EducationsService handles the CandidateEducation entity.
type EducationsService service

// Education is a candidate's education row.
type Education struct {
	ID        int    `json:"id"`
	School    string `json:"school,omitempty"`
	Degree    string `json:"degree,omitempty"`
	StartDate int64  `json:"startDate,omitempty"` // epoch milliseconds
	EndDate   int64  `json:"endDate,omitempty"`
}

// Create creates an education row (PUT entity/CandidateEducation); body links it to its
// candidate with "candidate": {"id": N}.
func (s *EducationsService) Create(ctx context.Context, body any) (*ChangeResult, *Response, error) {
	return s.client.createEntity(ctx, "CandidateEducation", body)
}

// Update updates the fields of body on education row id.
func (s *EducationsService) Update(ctx context.Context, id int, body any) (*ChangeResult, *Response, error) {
	return s.client.updateEntity(ctx, "CandidateEducation", id, body)
}

// List returns the first 500 education rows of a candidate.
func (s *EducationsService) List(ctx context.Context, candidateID int) ([]Education, *Response, error) {
	return listOf[Education](ctx, s.client, candidateID, "educations", "id,school,degree,startDate,endDate")
}

// WorkHistoriesService handles the CandidateWorkHistory entity.
type WorkHistoriesService service

// WorkHistory is a candidate's work-history row.
type WorkHistory struct {
	ID          int    `json:"id"`
	CompanyName string `json:"companyName,omitempty"`
	Title       string `json:"title,omitempty"`
	StartDate   int64  `json:"startDate,omitempty"` // epoch milliseconds
	EndDate     int64  `json:"endDate,omitempty"`
}

// Create creates a work-history row (PUT entity/CandidateWorkHistory); body links it to its
// candidate with "candidate": {"id": N}.
func (s *WorkHistoriesService) Create(ctx context.Context, body any) (*ChangeResult, *Response, error) {
	return s.client.createEntity(ctx, "CandidateWorkHistory", body)
}

// Update updates the fields of body on work-history row id.
func (s *WorkHistoriesService) Update(ctx context.Context, id int, body any) (*ChangeResult, *Response, error) {
	return s.client.updateEntity(ctx, "CandidateWorkHistory", id, body)
}

// List returns the first 500 work-history rows of a candidate.
func (s *WorkHistoriesService) List(ctx context.Context, candidateID int) ([]WorkHistory, *Response, error) {
	return listOf[WorkHistory](ctx, s.client, candidateID, "workHistories", "id,companyName,title,startDate,endDate")
}

// FilesService attaches files to candidates.
type FilesService service

// File describes a file to attach.
type File struct {
	// ExternalID identifies the file for its uploader (required, at most 50 characters).
	ExternalID string
	// Name is the file name with its extension (required).
	Name        string
	ContentType string // e.g. "application/pdf"
	// Type is the file's category, e.g. "Resume".
	Type        string
	Description string
}

// Upload attaches the content read from r to candidate id as f (PUT file/Candidate/{id},
// base64) and returns the new file's id. Content over [MaxFileSize] returns [ErrFileTooLarge].
func (s *FilesService) Upload(ctx context.Context, id int, f *File, r io.Reader) (int, *Response, error) {
	content, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return 0, nil, fmt.Errorf("bullhorn: read file: %w", err)
	}
	if len(content) > MaxFileSize {
		return 0, nil, ErrFileTooLarge
	}
	body := struct {
		ExternalID  string `json:"externalID"`
		FileContent string `json:"fileContent"`
		FileType    string `json:"fileType"`
		Name        string `json:"name"`
		ContentType string `json:"contentType,omitempty"`
		Type        string `json:"type,omitempty"`
		Description string `json:"description,omitempty"`
	}{f.ExternalID, base64.StdEncoding.EncodeToString(content), "SAMPLE", f.Name, f.ContentType, f.Type, f.Description}
	req, err := jsonRequest(http.MethodPut, body, "file", "Candidate", strconv.Itoa(id))
	if err != nil {
		return 0, nil, err
	}
	var res struct {
		FileID int `json:"fileId"`
	}
	resp, err := s.client.do(ctx, req, &res)
	if err != nil {
		return 0, resp, err
	}
	if res.FileID == 0 {
		return 0, resp, errors.New("bullhorn: PUT file/Candidate answered without fileId")
	}
	return res.FileID, resp, nil
}
