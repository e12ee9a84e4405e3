// Package version says which build of hrpush is running, from what the Go toolchain records in
// the binary (module version, VCS revision and time, Go version): no linker flags to set.
package version

import (
	"runtime/debug"
	"strings"
)

// String describes the build, e.g. "v0.3.0 (rev 1a2b3c4d5e6f, 2026-12-05T01:00:00Z, go1.26.8)"
// or "(devel) (rev 1a2b3c4d5e6f+dirty, …)".
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var details []string
	if rev := settings["vcs.revision"]; rev != "" {
		rev = rev[:min(len(rev), 12)]
		if settings["vcs.modified"] == "true" {
			rev += "+dirty"
		}
		details = append(details, "rev "+rev)
	}
	if t := settings["vcs.time"]; t != "" {
		details = append(details, t)
	}
	details = append(details, info.GoVersion)
	return info.Main.Version + " (" + strings.Join(details, ", ") + ")"
}
