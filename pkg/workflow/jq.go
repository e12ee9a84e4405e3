package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/itchyny/gojq"

	"github.com/hrpush/hrpush/pkg/hrflow"
)

// compileJQ compiles a jq program with the variable $profile and hrpush's functions. The
// environment is not visible to programs ($ENV and env are empty), and modules, input and
// inputs are not available.
func compileJQ(src string) (*gojq.Code, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("compile: empty program")
	}
	q, err := gojq.Parse(src)
	if err != nil {
		var pe *gojq.ParseError
		if errors.As(err, &pe) {
			line, col := position(src, pe.Offset-len(pe.Token)) // Offset is after the token
			return nil, fmt.Errorf("compile: %w (line %d, column %d)", err, line, col)
		}
		return nil, fmt.Errorf("compile: %w", err)
	}
	opts := append([]gojq.CompilerOption{gojq.WithVariables([]string{"$profile"})}, jqFunctions()...)
	code, err := gojq.Compile(q, opts...)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	return code, nil
}

// position turns a byte offset of src into a 1-based line and column (in runes).
func position(src string, offset int) (line, col int) {
	offset = min(max(offset, 0), len(src))
	before := src[:offset]
	line = strings.Count(before, "\n") + 1
	col = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// errMultipleOutputs is returned for a program that yields more than one value: which one
// should be pushed is ambiguous.
var errMultipleOutputs = errors.New("the program produced more than one output (wrap it in [...] or use first(...))")

// runJQ runs code on input with $profile bound to profile, within timeout. It returns the
// only output, or ok false when there is none (empty, or halt).
func runJQ(ctx context.Context, code *gojq.Code, timeout time.Duration, input, profile any) (out any, ok bool, err error) {
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	iter := code.RunWithContext(runCtx, input, profile)
	v, more := iter.Next()
	if !more {
		return nil, false, nil
	}
	if err, isErr := v.(error); isErr {
		return nil, false, jqError(ctx, runCtx, err, timeout)
	}
	if v2, again := iter.Next(); again {
		if err, isErr := v2.(error); isErr {
			if halted(err) {
				return v, true, nil
			}
			return nil, false, jqError(ctx, runCtx, err, timeout)
		}
		return nil, false, errMultipleOutputs
	}
	return v, true, nil
}

// jqError explains why a program stopped: the job's context ended (returned as is, so that
// the job is retried or put back), the program's own timeout, halt (no output) or an error.
func jqError(parent, runCtx context.Context, err error, timeout time.Duration) error {
	switch {
	case parent.Err() != nil:
		return context.Cause(parent)
	case runCtx.Err() != nil:
		return fmt.Errorf("timed out after %s", timeout)
	case halted(err):
		return nil
	}
	return err
}

// halted reports whether err is jq's halt (stop without output and without error).
func halted(err error) bool {
	var h *gojq.HaltError
	return errors.As(err, &h) && h.Value() == nil
}

// profileValue is the profile as jq sees it: its raw JSON, numbers kept exact. A profile
// built in Go without Raw is encoded from its fields.
func profileValue(p *hrflow.Profile) (any, error) {
	raw := p.Raw
	if len(raw) == 0 {
		var err error
		if raw, err = json.Marshal(p); err != nil {
			return nil, fmt.Errorf("encode profile: %w", err)
		}
	}
	return decodeJSON(raw)
}

func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode profile: %w", err)
	}
	return v, nil
}

// jqItem returns item in the types gojq accepts, converting it through JSON when a Go
// function put other types in it (int64, []string, structs...).
func jqItem(item map[string]any) (map[string]any, error) {
	if jqNative(item) {
		return item, nil
	}
	raw, err := json.Marshal(item)
	if err != nil {
		return nil, fmt.Errorf("the item is not JSON: %w", err)
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

func jqNative(v any) bool {
	switch v := v.(type) {
	case nil, bool, int, float64, *big.Int, json.Number, string:
		return true
	case []any:
		for _, x := range v {
			if !jqNative(x) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, x := range v {
			if !jqNative(x) {
				return false
			}
		}
		return true
	}
	return false
}

// jqFunctions are the functions hrpush adds to jq; the package documentation lists them.
func jqFunctions() []gojq.CompilerOption {
	return []gojq.CompilerOption{
		gojq.WithFunction("to_epoch_ms", 0, 0, func(v any, _ []any) any { return toEpochMS(v) }),
		gojq.WithFunction("to_date", 0, 0, func(v any, _ []any) any { return toDate(v) }),
		gojq.WithFunction("truncate", 1, 1, func(v any, args []any) any { return truncate(v, args[0]) }),
		gojq.WithFunction("compact", 0, 0, func(v any, _ []any) any { return compact(v) }),
		gojq.WithFunction("alpha2", 0, 0, func(v any, _ []any) any { return alpha2(v) }),
	}
}

// parseDate reads a date as HrFlow writes it; null, "" and HrFlow's 1969-12-31 sentinel for
// "unknown" give ok false.
func parseDate(fn string, v any) (t time.Time, ok bool, err error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case string:
		pt := hrflow.ParseTime(v)
		if pt.Raw != "" {
			return time.Time{}, false, fmt.Errorf("%s: cannot parse %q as a date", fn, v)
		}
		return pt.Time, !pt.IsZero(), nil
	}
	return time.Time{}, false, fmt.Errorf("%s: want a date string or null, got %s", fn, gojq.TypeOf(v))
}

// toEpochMS is to_epoch_ms: a date or timestamp to milliseconds since the epoch; a time
// without a zone is UTC, a date is its midnight UTC.
func toEpochMS(v any) any {
	t, ok, err := parseDate("to_epoch_ms", v)
	switch {
	case err != nil:
		return err
	case !ok:
		return nil
	}
	return int(t.UnixMilli())
}

// toDate is to_date: the ISO full date (YYYY-MM-DD) of a date or timestamp, in the zone it
// was written in.
func toDate(v any) any {
	t, ok, err := parseDate("to_date", v)
	switch {
	case err != nil:
		return err
	case !ok:
		return nil
	}
	return t.Format(time.DateOnly)
}

// alpha2 is alpha2: the ISO 3166-1 alpha-2 code of an alpha-3 country code such as HrFlow's
// location.fields.country ("FRA" → "FR"); null for null or an unknown code.
func alpha2(v any) any {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return nil
		}
		return fmt.Errorf("alpha2: want a string or null, got %s", gojq.TypeOf(v))
	}
	if a2 := hrflow.Alpha2(s); a2 != "" {
		return a2
	}
	return nil
}

// truncate is truncate(n): the string cut to at most n characters (runes); null stays null.
func truncate(v, n any) any {
	limit, ok := gojq.ToInt(n)
	if !ok || limit < 0 {
		return fmt.Errorf("truncate: want a non-negative number of characters, got %s", gojq.Preview(n))
	}
	switch s := v.(type) {
	case nil:
		return nil
	case string:
		i := 0
		for j := range s {
			if i == limit {
				return s[:j]
			}
			i++
		}
		return s
	}
	return fmt.Errorf("truncate: want a string or null, got %s", gojq.TypeOf(v))
}

// compact is compact: the value without the null, "", [] and {} members of its objects and
// elements of its arrays, recursively (a member emptied by compacting goes too).
func compact(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if x = compact(x); !empty(x) {
				out[k] = x
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(v))
		for _, x := range v {
			if x = compact(x); !empty(x) {
				out = append(out, x)
			}
		}
		return out
	}
	return v
}

func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}
