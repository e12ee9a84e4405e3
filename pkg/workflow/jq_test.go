package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// jq runs program on the JSON input with $profile bound to profile (JSON, may be empty).
func jq(t *testing.T, program, input, profile string) (any, bool, error) {
	t.Helper()
	code, err := compileJQ(program)
	if err != nil {
		t.Fatalf("compile %q: %v", program, err)
	}
	in, err := decodeJSON([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	var prof any
	if profile != "" {
		if prof, err = decodeJSON([]byte(profile)); err != nil {
			t.Fatal(err)
		}
	}
	return runJQ(t.Context(), code, time.Second, in, prof)
}

// canonical re-encodes a jq output as JSON for comparison.
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJQFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, program, input string
		want                 string // JSON, when no error
		wantErr              string
	}{
		// to_epoch_ms
		{"epoch zone", `to_epoch_ms`, `"2020-09-11T10:26:36+0000"`, `1599819996000`, ""},
		{"epoch other zone", `to_epoch_ms`, `"2020-09-11T12:26:36+0200"`, `1599819996000`, ""},
		{"epoch rfc3339", `to_epoch_ms`, `"2020-09-11T10:26:36.5Z"`, `1599819996500`, ""},
		{"epoch no zone is UTC", `to_epoch_ms`, `"2020-09-11T10:26:36"`, `1599819996000`, ""},
		{"epoch date", `to_epoch_ms`, `"1990-08-09"`, `650160000000`, ""},
		{"epoch month", `to_epoch_ms`, `"2017-07"`, `1498867200000`, ""},
		{"epoch year", `to_epoch_ms`, `"2017"`, `1483228800000`, ""},
		{"epoch before 1970", `to_epoch_ms`, `"1960-01-01"`, `-315619200000`, ""},
		{"epoch null", `to_epoch_ms`, `null`, `null`, ""},
		{"epoch empty string", `to_epoch_ms`, `""`, `null`, ""},
		{"epoch unknown sentinel", `to_epoch_ms`, `"1969-12-31T00:00:00+0000"`, `null`, ""},
		{"epoch unparseable", `to_epoch_ms`, `"next week"`, "", `to_epoch_ms: cannot parse "next week" as a date`},
		{"epoch number", `to_epoch_ms`, `12`, "", `to_epoch_ms: want a date string or null, got number`},
		{"epoch catchable", `try to_epoch_ms catch "bad"`, `"x"`, `"bad"`, ""},
		// to_date
		{"date zone kept", `to_date`, `"2020-09-11T23:30:00-0500"`, `"2020-09-11"`, ""},
		{"date no zone", `to_date`, `"2019-01-31T00:00:00"`, `"2019-01-31"`, ""},
		{"date month", `to_date`, `"2017-07"`, `"2017-07-01"`, ""},
		{"date year", `to_date`, `"2017"`, `"2017-01-01"`, ""},
		{"date null", `to_date`, `null`, `null`, ""},
		{"date object", `to_date`, `{}`, "", `to_date: want a date string or null, got object`},
		// truncate
		{"truncate cuts runes", `truncate(5)`, `"Zoë Ålvarez"`, `"Zoë Å"`, ""},
		{"truncate short", `truncate(50)`, `"Harry"`, `"Harry"`, ""},
		{"truncate exact", `truncate(5)`, `"Harry"`, `"Harry"`, ""},
		{"truncate zero", `truncate(0)`, `"Harry"`, `""`, ""},
		{"truncate null", `truncate(3)`, `null`, `null`, ""},
		{"alpha2", `alpha2`, `"FRA"`, `"FR"`, ""},
		{"alpha2 unknown", `alpha2`, `"XXX"`, `null`, ""},
		{"alpha2 null", `alpha2`, `null`, `null`, ""},
		{"alpha2 not a string", `alpha2`, `3`, "", `alpha2: want a string or null, got number`},
		{"truncate number arg from data", `truncate(.n)`, `{"n": 2}`, "", `truncate: want a string or null, got object`},
		{"truncate negative", `truncate(-1)`, `"x"`, "", `truncate: want a non-negative number of characters, got -1`},
		{"truncate not a number", `truncate("2")`, `"x"`, "", `truncate: want a non-negative number of characters, got "2"`},
		{"truncate number input", `truncate(2)`, `42`, "", `truncate: want a string or null, got number`},
		// compact
		{"compact object", `compact`, `{"a": null, "b": "", "c": [], "d": {}, "e": 0, "f": false, "g": "x"}`, `{"e":0,"f":false,"g":"x"}`, ""},
		{"compact nested", `compact`, `{"a": {"b": {"c": null}}, "l": [null, "", {"x": ""}, ["", null], 1]}`, `{"l":[1]}`, ""},
		{"compact keeps whitespace", `compact`, `{"a": " "}`, `{"a":" "}`, ""},
		{"compact empty top", `compact`, `{"a": null}`, `{}`, ""},
		{"compact scalar", `compact`, `"x"`, `"x"`, ""},
		// numbers survive exactly
		{"big number kept", `.id`, `{"id": 12345678901234567890}`, `12345678901234567890`, ""},
		{"number arithmetic", `.n + 1`, `{"n": 41}`, `42`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, ok, err := jq(t, tt.program, tt.input, "")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q (output %v)", err, tt.wantErr, out)
				}
				return
			}
			if err != nil || !ok {
				t.Fatalf("ok %v, error %v", ok, err)
			}
			if got := canonical(t, out); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestJQOutputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, program string
		wantOK        bool
		wantErr       string
	}{
		{"one", `.`, true, ""},
		{"none", `empty`, false, ""},
		{"halt", `halt`, false, ""},
		{"one then halt", `., halt`, true, ""},
		{"two", `., .`, false, "more than one output"},
		{"error", `error("no way")`, false, "error: no way"},
		{"halt_error", `"bad" | halt_error`, false, "bad"},
		{"env is hidden", `if ($ENV | length) == 0 and (env | length) == 0 then . else error("env visible") end`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ok, err := jq(t, tt.program, `{"a": 1}`, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || ok != tt.wantOK {
				t.Fatalf("ok %v error %v, want ok %v", ok, err, tt.wantOK)
			}
		})
	}
}

func TestJQTimeout(t *testing.T) {
	t.Parallel()
	code, err := compileJQ(`def loop: loop; loop`)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = runJQ(t.Context(), code, 50*time.Millisecond, map[string]any{}, nil)
	if err == nil || err.Error() != "timed out after 50ms" {
		t.Fatalf("error = %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}

	// When the job's context ends, its cause is returned, not a timeout.
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := context.Canceled
	cancel(cause)
	_, _, err = runJQ(ctx, code, time.Second, map[string]any{}, nil)
	if err != cause {
		t.Fatalf("error = %v, want the context's cause", err)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ program, want string }{
		{``, "compile: empty program"},
		{"  \n", "compile: empty program"},
		{`.a |`, "compile: unexpected EOF (line 1, column 5)"},
		{".a\n| .b )", `compile: unexpected token ")" (line 2, column 6)`},
		{`nosuch(1)`, "compile: function not defined: nosuch/1"},
		{`$other`, "compile: variable not defined: $other"},
		{`import "x" as x; .`, "compile: "},
		{`input`, "compile: input(s)/0 is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.program, func(t *testing.T) {
			t.Parallel()
			_, err := compileJQ(tt.program)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestJQItem(t *testing.T) {
	t.Parallel()
	native := map[string]any{"a": []any{"x", json.Number("1")}, "b": 2}
	got, err := jqItem(native)
	if err != nil || got["b"] != 2 {
		t.Fatalf("native item changed: %v %v", got, err)
	}
	goTypes := map[string]any{"tags": []string{"a", "b"}, "ms": int64(5), "when": time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)}
	got, err = jqItem(goTypes)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"tags": []any{"a", "b"}, "ms": json.Number("5"), "when": "2020-01-02T00:00:00Z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("item (-want +got):\n%s", diff)
	}
	if _, err := jqItem(map[string]any{"c": make(chan int)}); err == nil {
		t.Error("an item that is not JSON was accepted")
	}
}

func TestPosition(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		src          string
		offset, l, c int
	}{{"abc", 0, 1, 1}, {"abc", 3, 1, 4}, {"a\nbc", 3, 2, 2}, {"é\nx", 4, 2, 2}, {"x", 99, 1, 2}} {
		if l, c := position(tt.src, tt.offset); l != tt.l || c != tt.c {
			t.Errorf("position(%q, %d) = %d:%d, want %d:%d", tt.src, tt.offset, l, c, tt.l, tt.c)
		}
	}
}
