package consultest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Version is the Consul release that Binary provides.
const Version = "v1.14.11"

// buildTimeout bounds one build of Consul (about 3 minutes cold on 2 cores).
const buildTimeout = 30 * time.Minute

// Binary returns the path of a Consul binary, building and caching it if
// needed (see the package documentation). If none can be had it skips the
// test, or fails it when the environment variable CI is "true".
func Binary(t testing.TB) string {
	t.Helper()
	path, err := Build(context.Background(), t.Logf)
	if err != nil {
		unavailable(t, err)
	}
	return path
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("consultest: no Consul binary (CI=true, so this is a failure): %v", err)
	}
	t.Skipf("consultest: no Consul binary, skipping: %v", err)
}

// CachePath returns where the cached binary lives: under $LEGION_CACHE if
// set, else under os.UserCacheDir()/legion.
func CachePath() (string, error) {
	root := os.Getenv("LEGION_CACHE")
	if root == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("consultest: no cache dir (set LEGION_CACHE): %w", err)
		}
		root = filepath.Join(dir, "legion")
	}
	return filepath.Join(root, "consul-"+Version, "consul"), nil
}

// Build returns the path of a Consul binary: $LEGION_CONSUL_BIN if set, else
// the cached one, which it builds first if missing. Only one process builds at
// a time (the others wait on a file lock and reuse its result). logf receives
// progress lines; it may be nil.
func Build(ctx context.Context, logf func(format string, args ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if bin := os.Getenv("LEGION_CONSUL_BIN"); bin != "" {
		if !executable(bin) {
			return "", fmt.Errorf("consultest: LEGION_CONSUL_BIN=%q is not an executable file", bin)
		}
		return bin, nil
	}
	path, err := CachePath()
	if err != nil {
		return "", err
	}
	if executable(path) {
		return path, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("consultest: %w", err)
	}
	unlock, err := lock(filepath.Join(dir, ".lock"), logf)
	if err != nil {
		return "", err
	}
	defer unlock()
	if executable(path) { // another process built it while we waited
		return path, nil
	}
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	start := time.Now()
	logf("consultest: building Consul %s into %s (a few minutes, once)", Version, path)
	if err := build(ctx, path); err != nil {
		return "", err
	}
	logf("consultest: built Consul %s in %v", Version, time.Since(start).Round(time.Second))
	return path, nil
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// build compiles Consul into path via a throw-away wrapper module, writing to
// a temporary file next to path and renaming it into place.
func build(ctx context.Context, path string) error {
	goCmd, err := goCommand()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "consul-build-")
	if err != nil {
		return fmt.Errorf("consultest: %w", err)
	}
	defer os.RemoveAll(work)
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	defer os.Remove(tmp) // after a successful rename this is a no-op
	env := append(os.Environ(),
		"GOTOOLCHAIN=local", // the wrapper must not fetch another toolchain
		"GOWORK=off",
		"GOFLAGS=-mod=mod -buildvcs=false",
		"CGO_ENABLED=0", // a static binary, no C compiler needed
	)
	steps := [][]string{
		{"mod", "init", "w"},
		{"get", "github.com/hashicorp/consul@" + Version},
		{"build", "-o", tmp, "github.com/hashicorp/consul"},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir, cmd.Env = work, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("consultest: go %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 40))
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("consultest: %w", err)
	}
	return nil
}

// goCommand finds the go command: on PATH, else in the running toolchain's GOROOT.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if executable(p) {
		return p, nil
	}
	return "", errors.New("consultest: no go command to build Consul with")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
