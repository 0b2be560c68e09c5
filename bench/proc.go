package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process whose output the harness reads. Its methods are safe for
// concurrent use.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and its output is read

	mu    sync.Mutex
	out   bytes.Buffer // stdout and stderr, interleaved
	lines chan struct{}
}

// startProc starts bin with args, with env ("K=V", or empty) added to the harness's
// environment. The process dies with the harness (Pdeathsig) if the harness is killed;
// stop ends it otherwise.
func startProc(name, env, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, exited: make(chan struct{}), lines: make(chan struct{}, 1)}
	p.cmd = exec.Command(bin, args...)
	if env != "" {
		p.cmd.Env = append(os.Environ(), env)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	w.Close()
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.out.Write(sc.Bytes())
			p.out.WriteByte('\n')
			p.mu.Unlock()
			select {
			case p.lines <- struct{}{}:
			default:
			}
		}
		io.Copy(io.Discard, r)
		r.Close()
		p.cmd.Wait()
	}()
	return p, nil
}

// output returns what the process printed so far.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// await waits until the process has printed a line matching re and returns the
// submatches, or fails when it exits or timeout passes.
func (p *proc) await(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.After(timeout)
	for {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m, nil
		}
		select {
		case <-p.lines:
		case <-p.exited:
			if m := re.FindStringSubmatch(p.output()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s exited before printing %s:\n%s", p.name, re, tail(p.output()))
		case <-deadline:
			return nil, fmt.Errorf("%s printed no %s within %v:\n%s", p.name, re, timeout, tail(p.output()))
		}
	}
}

// stop sends SIGTERM, waits up to timeout for the process to exit, then kills it.
func (p *proc) stop(timeout time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(timeout):
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// pid is the process's id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// tail returns the last lines of s, for error messages.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// run runs a command to its end and returns its output, failing with it.
func run(ctx context.Context, dir, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, tail(string(out)))
	}
	return string(out), nil
}
