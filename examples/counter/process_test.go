package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// TestProcesses runs the example as separate processes: three nodes on pebble stores
// joined by gossip, load against all three, check; then one node is killed with SIGKILL
// and the others go on serving, and one is stopped with SIGTERM and exits cleanly.
func TestProcesses(t *testing.T) {
	dir, bin := buildCounter(t)
	n1 := startNode(t, bin, dir, "n1", "")
	n2 := startNode(t, bin, dir, "n2", n1.gossip)
	n3 := startNode(t, bin, dir, "n3", n1.gossip)
	for _, n := range []*node{n1, n2, n3} {
		n.waitForMembers(t, 3)
	}

	acked := filepath.Join(dir, "acked.json")
	out := runBin(t, bin, "load", "-targets", n1.http+","+n2.http+","+n3.http, "-duration", "2s",
		"-concurrency", "8", "-keys", "50", "-out", acked)
	if !strings.Contains(out, "p99=") {
		t.Errorf("load printed no latencies:\n%s", out)
	}
	out = runBin(t, bin, "check", "-target", n2.http, "-in", acked)
	checkSummary(t, lastSummary(t, out), 50)
	checkAPIErrors(t, n1)
	if resp, err := http.Get("http://" + n1.http + "/stalls"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /stalls: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// After the load, the node has replicated: its counters say so.
	var st actor.Stats
	if resp, err := http.Get("http://" + n1.http + "/stats"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /stats: %v %v", resp, err)
	} else {
		err := json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || st.Sent == 0 || st.Received == 0 || st.Flushes == 0 || st.Envelopes == 0 {
			t.Errorf("GET /stats after a load: %+v, %v", st, err)
		}
	}

	want, err := readLedger(acked)
	if err != nil {
		t.Fatal(err)
	}
	key := firstReplicaOn(t, n1, want, "n3~")
	n3.cmd.Process.Kill() // SIGKILL
	<-n3.exited
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	status, body, err := post(client, "http://"+n1.http+"/counters/"+key+"/increment")
	t.Logf("increment of %s (first replica killed) through n1: %d %s in %v", key, status, bytes.TrimSpace(body), time.Since(start))
	if err != nil || status != http.StatusOK {
		t.Fatalf("increment %s through n1 after its first replica was killed: %d %s %v", key, status, body, err)
	}
	var c counterJSON
	json.Unmarshal(body, &c)
	if c.Value < want[key].Acknowledged+1 {
		t.Fatalf("increment %s after the kill: value %d, but %d were acknowledged before", key, c.Value, want[key].Acknowledged)
	}
	if err := getJSON(context.Background(), client, "http://"+n2.http+"/counters/"+key, &c); err != nil {
		t.Fatalf("read %s through n2: %v", key, err)
	}

	n2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n2.exited:
		if n2.err != nil {
			t.Fatalf("n2 after SIGTERM: %v", n2.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("n2 did not exit within 20s of SIGTERM")
	}
}

// checkAPIErrors checks the statuses of the increment endpoint on bad input.
func checkAPIErrors(t *testing.T, n *node) {
	t.Helper()
	for _, c := range []struct {
		query  string
		status int
	}{{"by=x", 400}, {"consistency=eventual", 400}, {"by=0", 422}, {"by=2&consistency=consistent", 200}} {
		status, body, err := post(http.DefaultClient, "http://"+n.http+"/counters/api/increment?"+c.query)
		if err != nil || status != c.status {
			t.Errorf("increment?%s: %d %s %v, want status %d", c.query, status, body, err, c.status)
		}
	}
}

// firstReplicaOn returns one of the counters whose first replica is a peer whose id
// starts with prefix, asking node n.
func firstReplicaOn(t *testing.T, n *node, counters map[string]tally, prefix string) string {
	t.Helper()
	for k := range counters {
		var rs []replicaValue
		if err := getJSON(context.Background(), http.DefaultClient, "http://"+n.http+"/counters/"+k+"/replicas", &rs); err != nil {
			t.Fatal(err)
		}
		if len(rs) > 0 && strings.HasPrefix(rs[0].Peer, prefix) {
			return k
		}
	}
	t.Fatalf("no counter has a first replica %s*", prefix)
	return ""
}

// node is a node subcommand running in its own process.
type node struct {
	name, http, gossip string
	peer, remoting     string // from its ready line
	cmd                *exec.Cmd
	out                *syncBuffer
	exited             chan struct{} // closed once the process has exited; err is its status
	err                error
}

// waitForMembers waits until the node's membership view holds count members.
func (n *node) waitForMembers(t *testing.T, count int) {
	t.Helper()
	actortest.Eventually(t, 20*time.Second, func() error {
		var ms []memberJSON
		if err := getJSON(context.Background(), http.DefaultClient, "http://"+n.http+"/members", &ms); err != nil {
			return err
		}
		if len(ms) != count {
			return fmt.Errorf("%s sees %d members, want %d", n.name, len(ms), count)
		}
		return nil
	})
}

var readyLine = regexp.MustCompile(`(?m)^ready name=\S+ peer=(\S+) http=(\S+) membership=(\S+) remoting=(\S+)$`)

// startNode starts a node process on free ports with its own data directory, and waits
// for it to serve. It is killed when the test ends.
func startNode(t *testing.T, bin, dir, name, seed string) *node {
	t.Helper()
	return startNodeAt(t, bin, dir, name, seed, "127.0.0.1:0", "127.0.0.1:0")
}

// startNodeAt is startNode on chosen HTTP and gossip addresses (a node restarted on its
// data directory comes back where its callers and its peers expect it).
func startNodeAt(t *testing.T, bin, dir, name, seeds, httpAddr, gossipAddr string) *node {
	t.Helper()
	return startNodeWith(t, bin, dir, name, procOptions{seeds: seeds, http: httpAddr, gossip: gossipAddr})
}

// procOptions are how startNodeWith starts a node process.
type procOptions struct {
	seeds, http, gossip string   // -seeds, -http, -gossip
	listen              string   // -listen (default 127.0.0.1:0)
	args                []string // more flags of the node subcommand
	// gid, when not 0, is the group the process runs as (still as root): a firewall
	// rule can then tell its packets from the other nodes' (fault_test.go).
	gid uint32
}

// startNodeWith starts a node process with its own data directory, and waits for it to
// serve. It is killed when the test ends.
func startNodeWith(t *testing.T, bin, dir, name string, o procOptions) *node {
	t.Helper()
	data := filepath.Join(dir, name)
	if o.listen == "" {
		o.listen = "127.0.0.1:0"
	}
	args := []string{"node", "-name", name, "-data", data,
		"-http", o.http, "-gossip", o.gossip, "-listen", o.listen}
	if _, err := os.Stat(data); err != nil {
		args = append(args, "-init") // a first start; a restart must find its directory
	}
	if o.seeds != "" {
		args = append(args, "-seeds", o.seeds)
	}
	args = append(args, o.args...)
	n := &node{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, exited: make(chan struct{})}
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if o.gid != 0 {
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(os.Getuid()), Gid: o.gid}}
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, n.out)
		}
	})
	actortest.Eventually(t, 20*time.Second, func() error {
		select {
		case <-n.exited:
			t.Fatalf("%s exited: %v\n%s", name, n.err, n.out)
		default:
		}
		m := readyLine.FindStringSubmatch(n.out.String())
		if m == nil {
			return errors.New(name + " not ready")
		}
		n.peer, n.http, n.gossip, n.remoting = m[1], m[2], m[3], m[4]
		return nil
	})
	return n
}

// runBin runs the binary to its end and returns its output; it must exit 0.
func runBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	t.Logf("%s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("%s: %v", args[0], err)
	}
	return string(out)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildCounter builds the example's binary into a fresh directory (skipped with -short:
// the process tests start real processes), returning the directory and the binary.
func buildCounter(t *testing.T) (dir, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "counter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir, bin
}
