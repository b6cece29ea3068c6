package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are set at link time by the Makefile
// (-ldflags "-X main.version=... -X main.commit=..."). A plain `go build`
// leaves them empty and buildVersion falls back to the module's version and
// the VCS stamp Go records in the binary.
var (
	version string
	commit  string
)

// buildVersion returns the version and build commit of this binary:
// the link-time values when set, else what debug.ReadBuildInfo recorded
// ("(devel)" and the vcs.revision, with "-dirty" for a modified tree),
// else "unknown".
func buildVersion() (ver, rev string) {
	ver, rev = version, commit
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return orUnknown(ver), orUnknown(rev)
	}
	if ver == "" {
		ver = info.Main.Version
	}
	if rev == "" {
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" && dirty {
			rev += "-dirty"
		}
	}
	return orUnknown(ver), orUnknown(rev)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// versionCmd prints "llmrouter VERSION (commit REV, GOVERSION)".
func versionCmd(stdout io.Writer) int {
	ver, rev := buildVersion()
	fmt.Fprintf(stdout, "llmrouter %s (commit %s, %s)\n", ver, rev, runtime.Version())
	return 0
}
