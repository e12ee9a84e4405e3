package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hrpush/hrpush/pkg/secret"
)

// SignatureHeader is the header HrFlow signs its webhook deliveries in.
const SignatureHeader = "HTTP-HRFLOW-SIGNATURE"

// Scheme is how the signature header is formed. HrFlow documents two incompatible forms; the
// receiver checks the one its configuration names.
type Scheme string

// Signature schemes.
const (
	// SchemeHex: the header is the hex HMAC-SHA256, keyed with the webhook secret, of the
	// compact JSON of the body's {type, origin, message, profile}, as HrFlow's workflow sample
	// verifies it. The body is the payload. The default.
	SchemeHex Scheme = "hex"
	// SchemeSDK: the header is base64url(hex HMAC-SHA256 of the payload) + "." +
	// base64url(payload), as HrFlow's Python SDK and the old docs verify it. The payload is
	// taken from the header, where it is signed; the body is not read for it.
	SchemeSDK Scheme = "sdk"
)

// Errors of signature checks, all answered 401 with nothing enqueued.
var (
	// ErrNoSignature: the delivery carries no signature header.
	ErrNoSignature = errors.New("webhook: no " + SignatureHeader + " header")
	// ErrMalformedSignature: the header is not of the configured scheme's form.
	ErrMalformedSignature = errors.New("webhook: malformed " + SignatureHeader + " header")
	// ErrBadSignature: the header is well formed but the HMAC does not match (another secret,
	// or a payload changed on the way).
	ErrBadSignature = errors.New("webhook: signature does not match")
)

func mac(key secret.Value, data []byte) []byte {
	h := hmac.New(sha256.New, []byte(key.Reveal()))
	h.Write(data)
	return h.Sum(nil)
}

// verifySDK checks a header of the SDK form and returns the signed payload.
func verifySDK(key secret.Value, header string, maxPayload int64) ([]byte, error) {
	sig, payload, ok := strings.Cut(header, ".")
	if !ok || sig == "" || payload == "" || strings.Contains(payload, ".") {
		return nil, fmt.Errorf("%w: want base64url(hex digest).base64url(payload)", ErrMalformedSignature)
	}
	if int64(base64.RawURLEncoding.DecodedLen(len(payload))) > maxPayload {
		return nil, errTooLarge
	}
	hexSig, err := decodeBase64URL(sig)
	if err != nil {
		return nil, fmt.Errorf("%w: digest: %w", ErrMalformedSignature, err)
	}
	want, err := hex.DecodeString(string(hexSig))
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("%w: digest is not a hex SHA-256", ErrMalformedSignature)
	}
	data, err := decodeBase64URL(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformedSignature, err)
	}
	if !hmac.Equal(mac(key, data), want) {
		return nil, ErrBadSignature
	}
	return data, nil
}

// decodeBase64URL decodes base64url with or without padding; the SDK also reads the standard
// alphabet (it maps "-_" to "+/" before decoding), so "+/" are accepted too.
func decodeBase64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

// verifyHex checks a header of the hex form against body, a JSON object. The digest is
// compared with the HMAC of the compact JSON {type, origin, message, profile} as the body
// spells each value, and, for a sender that escapes non-ASCII characters as Python's json.dumps
// does, of the same with those characters escaped.
func verifyHex(key secret.Value, header string, body []byte) error {
	header = strings.TrimSpace(header)
	want, err := hex.DecodeString(header)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("%w: want the hex HMAC-SHA256 (64 hex digits)", ErrMalformedSignature)
	}
	signed, err := signedForm(body)
	if err != nil {
		return err
	}
	ok := hmac.Equal(mac(key, signed), want)
	if escaped := escapeNonASCII(signed); !bytes.Equal(escaped, signed) {
		ok = hmac.Equal(mac(key, escaped), want) || ok
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// errNotObject: a hex-signed body that is not one JSON object.
var errNotObject = errors.New("the body is not a JSON object")

// signedForm returns the compact JSON {type, origin, message, profile} of body, each value as
// the body spells it (null when absent).
func signedForm(body []byte) ([]byte, error) {
	var p struct {
		Type, Origin, Message, Profile json.RawMessage
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotObject, err)
	}
	var b bytes.Buffer
	for i, f := range []struct {
		name string
		v    json.RawMessage
	}{{"type", p.Type}, {"origin", p.Origin}, {"message", p.Message}, {"profile", p.Profile}} {
		b.WriteString([]string{`{"`, `,"`}[min(i, 1)] + f.name + `":`)
		if f.v == nil {
			b.WriteString("null")
		} else if err := json.Compact(&b, f.v); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotObject, err)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// escapeNonASCII escapes every non-ASCII character of compact JSON as \uXXXX (UTF-16, lower
// case hex), as Python's json.dumps does by default. Non-ASCII bytes only occur inside strings.
func escapeNonASCII(js []byte) []byte {
	if !bytes.ContainsFunc(js, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return js
	}
	out := make([]byte, 0, len(js)+len(js)/8)
	for _, r := range string(js) {
		if r < utf8.RuneSelf {
			out = append(out, byte(r))
			continue
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}
