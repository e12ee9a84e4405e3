package bullhorn

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
)

// payload is an item's payload split into the candidate and its rows.
type payload struct {
	candidate map[string]any
	email     string
	// rows are the educations and the workHistories, in the order of Target.rows.
	rows [2][]row
}

// row is one education or work-history row: its key and the fields sent to Bullhorn.
type row struct {
	key  string
	body map[string]any
}

// parsePayload checks the payload's shape and splits it; see the package documentation.
func parsePayload(p map[string]any) (*payload, error) {
	if len(p) == 0 {
		return nil, errors.New("bullhorn: empty payload")
	}
	out := &payload{candidate: maps.Clone(p)}
	delete(out.candidate, keyEducations)
	delete(out.candidate, keyWorkHistories)
	if _, ok := out.candidate["id"]; ok {
		return nil, errors.New(`bullhorn: the payload sets "id", the candidate's read-only primary key`)
	}
	if v, ok := p["email"]; ok {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("bullhorn: the payload's email is not a string")
		}
		out.email = strings.TrimSpace(s)
	}
	var err error
	if out.rows[0], err = parseRows(p[keyEducations], keyEducations, "school"); err != nil {
		return nil, err
	}
	if out.rows[1], err = parseRows(p[keyWorkHistories], keyWorkHistories, "companyName"); err != nil {
		return nil, err
	}
	return out, nil
}

// parseRows reads a list of row objects. A row without a key is keyed by a hash of its match
// field and startDate; rows with the same key get a "#2", "#3"... suffix.
func parseRows(v any, member, match string) ([]row, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("bullhorn: the payload's %s is not a list", member)
	}
	rows := make([]row, 0, len(list))
	seen := map[string]int{}
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("bullhorn: the payload's %s[%d] is not an object", member, i)
		}
		body := maps.Clone(m)
		if _, ok := body["id"]; ok {
			return nil, fmt.Errorf(`bullhorn: the payload's %s[%d] sets "id", a read-only primary key`, member, i)
		}
		key, _ := body[keyRow].(string)
		delete(body, keyRow)
		delete(body, "candidate") // the target links the row to its candidate
		if key == "" {
			name, _ := body[match].(string)
			start, _ := toInt64(body["startDate"])
			id, _ := json.Marshal([]any{strings.ToLower(strings.TrimSpace(name)), start})
			key = "h" + hash(string(id))[:16]
		}
		seen[key]++
		if n := seen[key]; n > 1 {
			key += "#" + strconv.Itoa(n)
		}
		rows = append(rows, row{key: key, body: body})
	}
	return rows, nil
}

// toInt64 reads a JSON number as decoded by encoding/json, gojq or written by [Format].
func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}
