// Package secret holds credentials (API keys, client secrets, passwords, tokens) in a type that
// cannot leak by accident: it prints, formats, logs and marshals as "REDACTED". Only Reveal
// returns the value, and only code that sends it to its API calls Reveal.
package secret

import (
	"log/slog"
	"strings"
)

const redacted = "REDACTED"

// Value is a credential.
type Value string

// Reveal returns the credential itself, for the request that needs it.
func (v Value) Reveal() string { return string(v) }

// IsZero reports whether no credential was given.
func (v Value) IsZero() bool { return v == "" }

// String implements fmt.Stringer; it never returns the credential.
func (v Value) String() string { return redacted }

// GoString implements fmt.GoStringer for %#v.
func (v Value) GoString() string { return `secret.Value("` + redacted + `")` }

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler, used by encoding/json too.
func (v Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Redact replaces every occurrence of the given credentials in s. Remote APIs sometimes echo a
// key back in an error message; errors built from such messages go through Redact.
func Redact(s string, values ...Value) string {
	for _, v := range values {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, string(v), redacted)
		}
	}
	return s
}
