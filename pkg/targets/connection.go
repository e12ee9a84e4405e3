package targets

import (
	"fmt"
	"strings"
)

// CheckConnection returns an error unless name is a valid connection name (an ATS account's
// name): 1 to 64 of [a-z0-9_-].
func CheckConnection(name string) error {
	if name == "" || len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-')
	}) {
		return fmt.Errorf("connection name %q is not made of 1 to 64 of [a-z0-9_-]", name)
	}
	return nil
}
