// Package version says which build of hrpush is running: the version the build set (make build
// and the Dockerfile pass -ldflags "-X github.com/hrpush/hrpush/pkg/version.version=v1.2.3"),
// else the module version Go recorded, with the VCS revision and time and the Go version from
// the build information.
package version

import (
	"cmp"
	"runtime/debug"
	"strings"
)

// version is set by the linker (-X); empty: the module version of the build information.
var version string //nolint:gochecknoglobals // set by the linker, never written at run time

// Info describes a build.
type Info struct {
	// Version is the release ("v0.3.0", "0.3.0-4-g1a2b3c4"), or "(devel)" for a build that set
	// none from a work tree.
	Version string
	// Revision is the VCS revision, shortened to 12 characters, with "+dirty" when the work
	// tree had changes; empty when the build recorded none.
	Revision string
	// Time is the revision's commit time (RFC 3339); empty when unknown.
	Time string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Get returns the build's information.
func Get() Info {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: cmp.Or(version, "unknown")}
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	out := Info{Version: cmp.Or(version, info.Main.Version, "unknown"), Time: settings["vcs.time"], GoVersion: info.GoVersion}
	if rev := settings["vcs.revision"]; rev != "" {
		out.Revision = rev[:min(len(rev), 12)]
		if settings["vcs.modified"] == "true" {
			out.Revision += "+dirty"
		}
	}
	return out
}

// String describes the build, e.g. "v0.3.0 (rev 1a2b3c4d5e6f, 2026-12-05T01:00:00Z, go1.26.8)"
// or "(devel) (rev 1a2b3c4d5e6f+dirty, …)".
func String() string {
	i := Get()
	var details []string
	if i.Revision != "" {
		details = append(details, "rev "+i.Revision)
	}
	if i.Time != "" {
		details = append(details, i.Time)
	}
	if i.GoVersion != "" {
		details = append(details, i.GoVersion)
	}
	if len(details) == 0 {
		return i.Version
	}
	return i.Version + " (" + strings.Join(details, ", ") + ")"
}
