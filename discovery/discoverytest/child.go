package discoverytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
)

// childEnv names the environment variable that turns a test binary into a
// member process (see [Main]).
const childEnv = "LEGION_DISCOVERYTEST_MEMBER"

type childSpec struct {
	Spec   string
	Member discovery.Member
}

// Main is the TestMain of a provider's test package: in a member child
// process started by the suite it runs one member of the cluster given in
// the environment and blocks until killed (or until its parent exits);
// otherwise it runs the tests.
func Main(m *testing.M, f Factory) {
	if env := os.Getenv(childEnv); env != "" {
		os.Exit(runChild(env, f))
	}
	os.Exit(m.Run())
}

// runChild starts the member and blocks until its standard input closes,
// which happens when the parent closes it or dies.
func runChild(env string, f Factory) int {
	var cs childSpec
	if err := json.Unmarshal([]byte(env), &cs); err != nil {
		fmt.Fprintf(os.Stderr, "discoverytest child: bad %s: %v\n", childEnv, err)
		return 2
	}
	p, err := f.FromSpec(cs.Spec)
	if err != nil {
		fmt.Fprintf(os.Stderr, "discoverytest child: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.Start(ctx, cs.Member); err != nil {
		fmt.Fprintf(os.Stderr, "discoverytest child: start: %v\n", err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "discoverytest child: member %s started\n", cs.Member.ID())
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Fprintf(os.Stderr, "discoverytest child: stdin closed; exiting without leaving\n")
	return 0
}

// Process is a member running in a child process, started by [Spawn].
type Process struct {
	m     discovery.Member
	cmd   *exec.Cmd
	stdin io.Closer
	log   string
	done  bool
}

// Spawn runs m in a child process (the test binary itself, whose TestMain
// must call [Main]) with the provider that [Factory.FromSpec] makes from spec.
// The process ends when the test does, if not killed before.
func Spawn(t *testing.T, spec string, m discovery.Member) *Process {
	t.Helper()
	env, err := json.Marshal(childSpec{Spec: spec, Member: m})
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "member.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(env))
	cmd.Stdout, cmd.Stderr = logf, logf // files: no copying goroutines
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{m: m, cmd: cmd, stdin: stdin, log: logPath}
	t.Cleanup(func() {
		p.close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("member process %s log:\n%s", m.ID(), b)
		}
	})
	return p
}

// Kill sends SIGKILL to the process and reaps it: the member vanishes
// without leaving.
func (p *Process) Kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill member process: %v", err)
	}
	p.close()
}

// close ends the process (closing its stdin makes it exit) and reaps it.
func (p *Process) close() {
	if p.done {
		return
	}
	p.done = true
	p.stdin.Close()
	timer := time.AfterFunc(10*time.Second, func() { _ = p.cmd.Process.Kill() })
	defer timer.Stop()
	_ = p.cmd.Wait()
}
