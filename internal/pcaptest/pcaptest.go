// Package pcaptest holds test fixtures shared by the project's packages:
// the location of ../shared (skipping when absent) and small helpers.
package pcaptest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the repository root, found from this source file.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns the absolute path of ../shared beside the repository, or
// "" when it does not exist (a user's clone has none).
func SharedDir() string {
	if d := os.Getenv("SFBTRACE_SHARED"); d != "" {
		return d
	}
	d := filepath.Join(Root(), "..", "shared")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d
	}
	return ""
}

// Shared returns the path of rel inside ../shared, skipping the test with a
// clear message when ../shared (or that file) is absent.
func Shared(tb testing.TB, rel string) string {
	tb.Helper()
	d := SharedDir()
	if d == "" {
		tb.Skipf("skipping: ../shared not found beside the repository (set SFBTRACE_SHARED); needed for %s", rel)
	}
	p := filepath.Join(d, rel)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("skipping: %s not found in ../shared", rel)
	}
	return p
}

// Pcaps returns the path of a file under the project's own pcaps/ folder.
func Pcaps(rel string) string { return filepath.Join(Root(), "pcaps", rel) }
