package webhook

import "time"

// SetNow sets the clock of h, for tests of deliveries without updated_at.
func SetNow(h *Handler, now func() time.Time) { h.now = now }
