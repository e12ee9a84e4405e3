package hrflow_test

import (
	"testing"

	"github.com/hrpush/hrpush/pkg/hrflow"
)

func TestAlpha2(t *testing.T) {
	t.Parallel()
	for a3, a2 := range map[string]string{"FRA": "FR", "GBR": "GB", "USA": "US", "AUS": "AU", "CAN": "CA", "NZL": "NZ", " fra ": "FR", "XXX": "", "": ""} {
		if got := hrflow.Alpha2(a3); got != a2 {
			t.Errorf("Alpha2(%q) = %q, want %q", a3, got, a2)
		}
	}
}
