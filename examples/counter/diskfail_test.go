package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/legion-go/legion/actor/actortest"
)

// TestDiskFailure: disk failure = node failure. Three node processes on pebble, under
// load; one node's disk breaks: a tiny tmpfs that fills up, or a data directory that
// becomes read-only. The sick node stops by itself, logging the cause once, and exits
// non-zero with it; it leaves membership, so the two healthy nodes eject it (after
// -eject-after) and go on answering fast and consistent calls, with every acknowledged
// increment on their replicas. Restarted on the still-broken disk, the node exits at once
// with the cause. Mounting needs root: the test skips without it.
func TestDiskFailure(t *testing.T) {
	dir, bin := buildCounter(t)
	for _, c := range []struct {
		name  string
		cause string // in the sick node's exit message and in its restart's
		args  []string
		// breakDisk breaks the sick node's data directory, which is a tmpfs mount.
		breakDisk func(t *testing.T, data string)
	}{
		{"full", "no space left on device", nil, fillDisk},
		// A small memtable makes pebble flush, hence create files, often: the failure
		// shows within moments of the directory turning read-only.
		{"read-only", "read-only file system", []string{"-memtable-bytes", "262144"}, bindReadOnly},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(dir, c.name)
			data := filepath.Join(dir, "n1")
			if err := os.MkdirAll(data, 0o755); err != nil {
				t.Fatal(err)
			}
			mount(t, data, "tmpfs", "tmpfs", 0, "size=24m")
			args := append([]string{"-eject-after", "1s"}, c.args...)
			n1 := startNodeWith(t, bin, dir, "n1", procOptions{http: "127.0.0.1:0", gossip: "127.0.0.1:0", args: append(args, "-init")})
			n2 := startNodeWith(t, bin, dir, "n2", procOptions{seeds: n1.gossip, http: "127.0.0.1:0", gossip: "127.0.0.1:0", args: args})
			n3 := startNodeWith(t, bin, dir, "n3", procOptions{seeds: n1.gossip, http: "127.0.0.1:0", gossip: "127.0.0.1:0", args: args})
			for _, n := range []*node{n1, n2, n3} {
				n.waitForMembers(t, 3)
			}

			l := startLoad(n2, n3)
			actortest.Eventually(t, 20*time.Second, func() error { // the load runs
				if l.acks() < 50 {
					return errors.New("fewer than 50 increments acknowledged")
				}
				return nil
			})
			c.breakDisk(t, data)
			select {
			case <-n1.exited:
			case <-time.After(60 * time.Second):
				t.Fatalf("n1 still runs 60s after its disk broke")
			}
			l.stop()
			checkFailedExit(t, n1.name, n1.err, n1.out.String(), c.cause)
			if got := strings.Count(n1.out.String(), "node failed"); got != 1 {
				t.Errorf("n1 logged %d \"node failed\" lines, want 1", got)
			}

			// The healthy nodes see it leave, eject it and answer both levels.
			n2.waitForMembers(t, 2)
			n3.waitForMembers(t, 2)
			client := &http.Client{Timeout: 10 * time.Second}
			start := time.Now()
			for i := range 10 {
				key := fmt.Sprintf("k%d", i)
				for j, n := range []*node{n2, n3} {
					level := []string{"fast", "consistent"}[(i+j)%2]
					actortest.Eventually(t, 20*time.Second, func() error {
						status, body, err := post(client, "http://"+n.http+"/counters/"+key+"/increment?consistency="+level)
						l.record(key, status, err)
						if err != nil || status != http.StatusOK {
							return fmt.Errorf("%s increment of %s through %s: %d %s %v", level, key, n.name, status, body, err)
						}
						return nil
					})
				}
			}
			t.Logf("20 increments through the healthy nodes after n1 exited: %v", time.Since(start))
			l.check(t, n2)

			// A restart on the still-broken disk exits at once, with the cause.
			start = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "node", "-name", "n1", "-data", data, "-http", "127.0.0.1:0",
				"-gossip", "127.0.0.1:0", "-listen", "127.0.0.1:0", "-seeds", n2.gossip).CombinedOutput()
			t.Logf("restart of n1 on its broken disk, after %v: %v\n%s", time.Since(start), err, out)
			checkFailedExit(t, "n1's restart", err, string(out), c.cause)
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("the restart took %v to exit", d)
			}
		})
	}
}

// checkFailedExit checks that a node process exited with status exitFailed, saying
// why in one line "node: ..." that names cause.
func checkFailedExit(t *testing.T, who string, err error, out, cause string) {
	t.Helper()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailed {
		t.Errorf("%s exited with %v, want status %d\n%s", who, err, exitFailed, out)
	}
	var said []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "node: ") {
			said = append(said, line)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], cause) {
		t.Errorf("%s did not exit with one line \"node: ...%s...\":\n%s", who, cause, out)
	}
}

// load increments counters k0..k9 through some nodes, alternating fast and consistent
// calls, until stopped, and tallies the outcomes.
type load struct {
	mu        sync.Mutex
	acked     map[string]int64
	uncertain map[string]int64
	done      chan struct{}
	wg        sync.WaitGroup
}

func startLoad(nodes ...*node) *load {
	l := &load{acked: map[string]int64{}, uncertain: map[string]int64{}, done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 8 {
		n := nodes[w%len(nodes)]
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				key := fmt.Sprintf("k%d", (w+i)%10)
				level := []string{"fast", "consistent"}[i%2]
				status, _, err := post(client, "http://"+n.http+"/counters/"+key+"/increment?consistency="+level)
				l.record(key, status, err)
			}
		})
	}
	return l
}

// record tallies one increment: acknowledged on 200, uncertain otherwise (a refusal would
// be certain, but none is expected here).
func (l *load) record(key string, status int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && status == http.StatusOK {
		l.acked[key]++
	} else {
		l.uncertain[key]++
	}
}

func (l *load) acks() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum int64
	for _, v := range l.acked {
		sum += v
	}
	return sum
}

func (l *load) stop() {
	close(l.done)
	l.wg.Wait()
}

// check waits until, asked through n, every replica of every counter holds the same value
// at both levels, between the acknowledged increments and those plus the uncertain ones.
func (l *load) check(t *testing.T, n *node) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	actortest.Eventually(t, 30*time.Second, func() error {
		for key, acked := range l.acked {
			var rs []replicaValue
			if err := getJSON(context.Background(), http.DefaultClient, "http://"+n.http+"/counters/"+key+"/replicas", &rs); err != nil {
				return err
			}
			if len(rs) != 2 {
				return fmt.Errorf("%s: %d replicas, want the 2 healthy nodes: %+v", key, len(rs), rs)
			}
			for _, r := range rs {
				if r.Error != "" || r.Value != rs[0].Value || r.Stable != r.Value ||
					r.Value < acked || r.Value > acked+l.uncertain[key] {
					return fmt.Errorf("%s: replicas %+v; acknowledged %d, uncertain %d", key, rs, acked, l.uncertain[key])
				}
			}
		}
		return nil
	})
}

// fillDisk fills the file system of data with a file of zeros, up to the last byte.
func fillDisk(t *testing.T, data string) {
	t.Helper()
	f, err := os.Create(filepath.Join(data, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for len(buf) > 1 { // the tail, in ever smaller writes
		buf = buf[:len(buf)/2]
		f.Write(buf)
	}
}

// bindReadOnly mounts a read-only view of data over it (the node's open files stay
// writable; no new file can be made), until the test ends.
func bindReadOnly(t *testing.T, data string) {
	t.Helper()
	mount(t, data, data, "", syscall.MS_BIND, "")
	if err := syscall.Mount("", data, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", data, err)
	}
}

// mount mounts source on target until the test ends, skipping the test if it cannot
// (mounting needs root).
func mount(t *testing.T, target, source, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := syscall.Mount(source, target, fstype, flags, data); err != nil {
		t.Skipf("cannot mount on %s (root needed): %v", target, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
}
