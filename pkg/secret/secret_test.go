package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hrpush/hrpush/pkg/secret"
)

func TestValueNeverPrints(t *testing.T) {
	t.Parallel()
	const raw = "s3cr3t-value"
	v := secret.Value(raw)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", v)
	js, err := json.Marshal(struct{ K secret.Value }{v})
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(v), fmt.Sprintf("%v %s %q %#v %+v", v, v, v, v, v), logs.String(), string(js),
	}
	for _, out := range outputs {
		if strings.Contains(out, raw) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if v.Reveal() != raw {
		t.Errorf("Reveal() = %q", v.Reveal())
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	got := secret.Redact("Unauthorized. Invalid secret key: abcdef123", "abcdef123", "")
	if got != "Unauthorized. Invalid secret key: REDACTED" {
		t.Errorf("Redact = %q", got)
	}
}
