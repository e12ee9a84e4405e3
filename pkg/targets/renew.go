package targets

import "time"

// MaxRenewMargin is the longest a credential (an access token, a session) is renewed before it
// expires.
const MaxRenewMargin = time.Minute

// RenewMargin returns how long before its expiry a credential that lives lifetime is renewed: a
// fifth of its lifetime, at most [MaxRenewMargin]. A margin that follows the lifetime renews a
// credential about once per four fifths of its lifetime, however short it is: a fixed minute
// renewed a 20-second token before every call. A lifetime of 0 or less (unknown: a record
// written before lifetimes were stored) gets MaxRenewMargin.
func RenewMargin(lifetime time.Duration) time.Duration {
	if lifetime <= 0 {
		return MaxRenewMargin
	}
	return min(lifetime/5, MaxRenewMargin)
}

// RenewAt returns when a credential issued at issued (zero if unknown) and expiring at expiry
// is due for renewal. Workers sharing a credential through a record store both times in it, so
// that each computes the same instant.
func RenewAt(issued, expiry time.Time) time.Time {
	var lifetime time.Duration
	if !issued.IsZero() {
		lifetime = expiry.Sub(issued)
	}
	return expiry.Add(-RenewMargin(lifetime))
}
