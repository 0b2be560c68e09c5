package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ScaleConfig is one benchmark at scale (issue #25, item 4): for each stored count, three
// counter nodes (R = 3, pebble, gossip) on fresh stores are populated with that many
// counters, left idle, measured, restarted on the same stores, and loaded on random and
// on hot counters.
type ScaleConfig struct {
	// Stored are the counts of counters, one measurement each, in order. Required.
	Stored []int
	// Populate is the callers creating the counters (one increment each). Zero: 64.
	Populate int
	// Clients is the callers of each measured load. Zero: 64.
	Clients int
	// HotKeys is the hot set's size: the first HotKeys counters. Zero: 50.
	HotKeys int
	// Duration is each measured load. Zero: 10 s.
	Duration time.Duration
	// PassivateAfter is the nodes' -passivate-after. Zero: 5 s.
	PassivateAfter time.Duration
	// IdleTimeout bounds each wait for every replica to passivate. Zero: 5 minutes.
	IdleTimeout time.Duration
	// ReadyTimeout bounds the wait for the restarted nodes to be ready. Zero: 10 minutes.
	ReadyTimeout time.Duration
	// Dir holds the nodes' data (a directory per stored count, removed after it unless
	// Keep); it must exist.
	Dir  string
	Keep bool
	// Log receives progress lines (nil: discarded).
	Log io.Writer
}

func (c ScaleConfig) withDefaults() ScaleConfig {
	if c.Populate <= 0 {
		c.Populate = 64
	}
	if c.Clients <= 0 {
		c.Clients = 64
	}
	if c.HotKeys <= 0 {
		c.HotKeys = 50
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.PassivateAfter <= 0 {
		c.PassivateAfter = 5 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 10 * time.Minute
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// ScaleResult is what one stored count measured. Per-node figures are in the nodes'
// order (n1, n2, n3).
type ScaleResult struct {
	Stored int
	// Populate is how long creating the counters took; PopulateFailed, the increments
	// that failed after retries (their counters may not exist).
	Populate       time.Duration
	PopulateFailed int64
	// PopulatedRSS and PopulatedActive are each node's RSS and active replicas when the
	// last counter was created.
	PopulatedRSS    []int64
	PopulatedActive []int64
	// Idle is the nodes once no replica was active (or IdleTimeout passed: IdleReached
	// says which), before the restart.
	Idle Snapshot
	// DiskBytes is each node's data directory (allocated blocks, as du counts them),
	// measured at Idle.
	DiskBytes []int64
	// WALBytes is the part of DiskBytes in pebble's write-ahead logs (*.log): written,
	// not yet flushed to tables.
	WALBytes []int64
	// IdleCPU is the CPU the three nodes used per second of wall time over a 3-second
	// window at Idle, in cores.
	IdleCPU float64
	// Stop is how long the three nodes took to exit after SIGTERM.
	Stop time.Duration
	// Restart: from starting the three processes on the same stores until each had
	// printed its ready line (Started), answered an increment of a counter that was
	// stored but not active (Answered), and reported ready on its admin /readyz, which
	// includes the first pass over the replicas it recovered (Ready). All three are the
	// latest node's.
	Started, Answered, Ready time.Duration
	// AtReady is the nodes when all three were ready.
	AtReady Snapshot
	// IdleAfterRestart is the nodes once idle again after the restart.
	IdleAfterRestart Snapshot
	// Random is the load on counters drawn uniformly from all of them, Hot on the first
	// HotKeys; RandomActive and HotActive, each node's active replicas at the end of it.
	Random, Hot             LoadResult
	RandomActive, HotActive []int64
	// End is the nodes after both loads (its stored counts show whether every node
	// still holds a replica of every counter).
	End Snapshot
}

// Snapshot is the three nodes' memory and replicas at one instant.
type Snapshot struct {
	// After is when it was taken, from the start of the phase it ends (a wait).
	After time.Duration
	// Reached says whether the state waited for was reached within its timeout.
	Reached bool
	RSS     []int64 // bytes (VmRSS)
	Active  []int64 // legion_partitions_active
	Stored  []int64 // legion_partitions_stored
}

// Scale runs c.Stored's measurements in order and returns the results of those that
// completed.
func Scale(ctx context.Context, b Binaries, c ScaleConfig) ([]ScaleResult, error) {
	c = c.withDefaults()
	var out []ScaleResult
	for _, n := range c.Stored {
		dir := filepath.Join(c.Dir, fmt.Sprintf("scale-%d", n))
		r, err := scaleOnce(ctx, b, c, n, dir)
		if !c.Keep {
			os.RemoveAll(dir)
		}
		if err != nil {
			return out, fmt.Errorf("%d stored: %w", n, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func scaleOnce(ctx context.Context, b Binaries, c ScaleConfig, n int, dir string) (ScaleResult, error) {
	r := ScaleResult{Stored: n}
	logf := func(format string, args ...any) {
		fmt.Fprintf(c.Log, "%s  %d stored: %s\n", time.Now().UTC().Format("15:04:05"), n, fmt.Sprintf(format, args...))
	}
	if n < 3+c.HotKeys {
		return r, fmt.Errorf("want at least %d counters (3 cold ones beside the hot set)", 3+c.HotKeys)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	g, err := startScaleNodes(ctx, b, dir, c.PassivateAfter, true)
	if err != nil {
		return r, err
	}
	defer func() { g.stop() }()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("c%07d", i)
	}

	logf("populating with %d callers", c.Populate)
	t0 := time.Now()
	r.PopulateFailed = populate(ctx, g.targets(), c.Populate, keys, func(done int64) {
		logf("  %d created, %.0f/s, active %v, RSS %v MiB", done, float64(done)/time.Since(t0).Seconds(),
			activeOf(ctx, g), mib(rssOf(g.group)))
	})
	r.Populate = time.Since(t0)
	r.PopulatedRSS = rssOf(g.group)
	r.PopulatedActive = activeOf(ctx, g)
	logf("populated in %v (%.0f/s, %d failed), active %v, RSS %v MiB", r.Populate.Round(100*time.Millisecond),
		float64(n)/r.Populate.Seconds(), r.PopulateFailed, r.PopulatedActive, mib(r.PopulatedRSS))
	if err := ctx.Err(); err != nil {
		return r, err
	}

	r.Idle = waitIdle(ctx, g, c.IdleTimeout)
	r.DiskBytes = diskOf(g.dirs, "")
	r.WALBytes = diskOf(g.dirs, ".log")
	cpu0 := cpuOf(g.pids())
	window := time.Now()
	time.Sleep(3 * time.Second) // a fixed window to measure idle CPU, not a wait for a state
	r.IdleCPU = (cpuOf(g.pids()) - cpu0).Seconds() / time.Since(window).Seconds()
	logf("idle after %v (reached %v): active %v, stored %v, RSS %v MiB, disk %v MiB (WAL %v MiB), idle CPU %.2f cores",
		r.Idle.After.Round(100*time.Millisecond), r.Idle.Reached, r.Idle.Active, r.Idle.Stored, mib(r.Idle.RSS), mib(r.DiskBytes), mib(r.WALBytes), r.IdleCPU)

	t1 := time.Now()
	g.stop()
	r.Stop = time.Since(t1)
	logf("stopped in %v; restarting", r.Stop.Round(10*time.Millisecond))
	// Cold counters to call, one per node: stored, never touched since they were
	// created, and none of the hot set.
	cold := []string{keys[n-1], keys[n-2], keys[n-3]}
	if g, err = restartScaleNodes(ctx, b, dir, c.PassivateAfter, cold, c.ReadyTimeout, &r); err != nil {
		return r, err
	}
	r.AtReady = snapshotOf(ctx, g)
	logf("restarted: processes up %v, a cold increment answered by each %v, all ready %v; active %v, stored %v, RSS %v MiB",
		r.Started.Round(10*time.Millisecond), r.Answered.Round(10*time.Millisecond), r.Ready.Round(10*time.Millisecond), r.AtReady.Active, r.AtReady.Stored, mib(r.AtReady.RSS))
	r.IdleAfterRestart = waitIdle(ctx, g, c.IdleTimeout)
	logf("idle again after %v (reached %v): active %v, stored %v, RSS %v MiB", r.IdleAfterRestart.After.Round(100*time.Millisecond),
		r.IdleAfterRestart.Reached, r.IdleAfterRestart.Active, r.IdleAfterRestart.Stored, mib(r.IdleAfterRestart.RSS))

	// The random load runs first, while nearly every counter is cold.
	r.Random = drive(ctx, g.targets(), c.Clients, keys, "", c.Duration)
	r.RandomActive = activeOf(ctx, g)
	logf("random keys: %.0f/s, p50 %v, p99 %v, %d failed; active %v", r.Random.Rate(), r.Random.Quantile(0.5).Round(10*time.Microsecond),
		r.Random.Quantile(0.99).Round(10*time.Microsecond), r.Random.Failed, r.RandomActive)
	r.Hot = drive(ctx, g.targets(), c.Clients, keys[:c.HotKeys], "", c.Duration)
	r.HotActive = activeOf(ctx, g)
	r.End = snapshotOf(ctx, g)
	logf("hot set: %.0f/s, p50 %v, p99 %v, %d failed; active %v; stored %v", r.Hot.Rate(), r.Hot.Quantile(0.5).Round(10*time.Microsecond),
		r.Hot.Quantile(0.99).Round(10*time.Microsecond), r.Hot.Failed, r.HotActive, r.End.Stored)
	return r, ctx.Err()
}

// scaleGroup is three nodes on stores under one directory.
type scaleGroup struct {
	group
	dirs []string
}

func (g scaleGroup) stop() {
	if g.group != nil {
		g.group.stop()
	}
}

var adminLine = regexp.MustCompile(`(?m)^admin http://(\S+)/ `)

// startScaleNodes starts three counter nodes on the stores dir/n1, dir/n2, dir/n3
// (creating them when create), all at once: each binds a gossip port picked beforehand
// and has the others' as seeds, so that none waits for another to print its address.
func startScaleNodes(ctx context.Context, b Binaries, dir string, passivate time.Duration, create bool) (scaleGroup, error) {
	g, _, err := launchScaleNodes(b, dir, passivate, create)
	if err != nil {
		return g, err
	}
	for _, in := range g.group {
		if err := awaitNode(in, 2*time.Minute); err != nil {
			g.stop()
			return g, err
		}
	}
	if err := awaitMembers(ctx, g.group, time.Minute); err != nil {
		g.stop()
		return g, err
	}
	return g, nil
}

func launchScaleNodes(b Binaries, dir string, passivate time.Duration, create bool) (scaleGroup, time.Time, error) {
	var g scaleGroup
	ports, err := freePorts(3)
	if err != nil {
		return g, time.Time{}, err
	}
	t0 := time.Now()
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		var seeds []string
		for j, p := range ports {
			if j != i {
				seeds = append(seeds, fmt.Sprintf("127.0.0.1:%d", p))
			}
		}
		data := filepath.Join(dir, name)
		args := []string{"node", "-name", name, "-http", "127.0.0.1:0", "-gossip", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"-seeds", strings.Join(seeds, ","), "-admin", "127.0.0.1:0", "-data", data,
			"-passivate-after", passivate.String()}
		if create {
			args = append(args, "-init")
		}
		p, err := startProc("legion "+name, "", b.Counter, args...)
		if err != nil {
			g.stop()
			return g, t0, err
		}
		g.group = append(g.group, &instance{proc: p})
		g.dirs = append(g.dirs, data)
	}
	return g, t0, nil
}

// awaitNode waits for in's ready and admin lines and records its addresses.
func awaitNode(in *instance, timeout time.Duration) error {
	m, err := in.await(legionReady, timeout)
	if err != nil {
		return err
	}
	in.peer, in.http, in.remoting = m[1], m[2], m[4]
	a, err := in.await(adminLine, time.Second)
	if err != nil {
		return err
	}
	in.admin = a[1]
	return nil
}

// awaitMembers waits until every node of g lists all of g as members.
func awaitMembers(ctx context.Context, g group, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, in := range g {
		for {
			var ms []json.RawMessage
			err := getJSON(ctx, "http://"+in.http+"/members", &ms)
			if err == nil && len(ms) == len(g) {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s sees %d members after %v (%v)", in.name, len(ms), timeout, err)
			}
			time.Sleep(50 * time.Millisecond) // polling membership, bounded by the deadline
		}
	}
	return nil
}

// restartScaleNodes starts the three nodes again on their stores and measures, into r,
// how long each took to print its ready line, to answer an increment of its counter of
// cold, and to be ready (admin /readyz).
func restartScaleNodes(ctx context.Context, b Binaries, dir string, passivate time.Duration, cold []string, timeout time.Duration, r *ScaleResult) (scaleGroup, error) {
	g, t0, err := launchScaleNodes(b, dir, passivate, false)
	if err != nil {
		return g, err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	errs := make([]error, 3)
	started, answered, ready := make([]time.Duration, 3), make([]time.Duration, 3), make([]time.Duration, 3)
	var wg sync.WaitGroup
	for i, in := range g.group {
		wg.Go(func() {
			if errs[i] = awaitNode(in, timeout); errs[i] != nil {
				return
			}
			started[i] = time.Since(t0)
			var inner sync.WaitGroup
			inner.Go(func() {
				u := "http://" + in.http + "/counters/" + cold[i] + "/increment?by=1"
				for !increment(client, u) {
					if time.Now().After(deadline) || ctx.Err() != nil {
						errs[i] = fmt.Errorf("%s answered no increment of %s within %v", in.name, cold[i], timeout)
						return
					}
					time.Sleep(20 * time.Millisecond) // polling readiness, bounded by the deadline
				}
				answered[i] = time.Since(t0)
			})
			inner.Go(func() {
				for !readyz(ctx, client, "http://"+in.admin+"/readyz") {
					if time.Now().After(deadline) || ctx.Err() != nil {
						errs[i] = fmt.Errorf("%s not ready within %v", in.name, timeout)
						return
					}
					time.Sleep(20 * time.Millisecond) // polling readiness, bounded by the deadline
				}
				ready[i] = time.Since(t0)
			})
			inner.Wait()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			g.stop()
			return g, err
		}
	}
	if err := awaitMembers(ctx, g.group, time.Minute); err != nil {
		g.stop()
		return g, err
	}
	for i := range 3 {
		r.Started = max(r.Started, started[i])
		r.Answered = max(r.Answered, answered[i])
		r.Ready = max(r.Ready, ready[i], answered[i])
	}
	return g, nil
}

// readyz says whether GET url answers 200.
func readyz(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// freePorts returns n distinct ports that were free on 127.0.0.1 for both TCP and UDP
// (gossip binds both) when picked.
func freePorts(n int) ([]int, error) {
	var out []int
	for tries := 0; len(out) < n && tries < 100; tries++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		dup := false
		for _, p := range out {
			dup = dup || p == port
		}
		if !dup {
			out = append(out, port)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("found %d free ports of %d", len(out), n)
	}
	return out, nil
}

// populate makes one increment of every counter of keys, clients at a time, through
// targets (client c through target c mod len), retrying a failed one up to 3 times. It
// calls progress about every 10 s with the counters created so far, and returns how many
// increments failed every try.
func populate(ctx context.Context, targets []string, clients int, keys []string, progress func(done int64)) int64 {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxIdleConns: 2 * clients}}
	defer client.CloseIdleConnections()
	var next, done, failed atomic.Int64
	stop := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				progress(done.Load())
			}
		}
	}()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			base := targets[c%len(targets)]
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(keys)) {
					return
				}
				u := base + "/counters/" + keys[i] + "/increment?by=1"
				ok := false
				for try := 0; try < 4 && !ok && ctx.Err() == nil; try++ {
					if try > 0 {
						time.Sleep(100 * time.Millisecond) // a failed call's pause, bounded by the tries
					}
					ok = increment(client, u)
				}
				if ok {
					done.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-ticked
	return failed.Load()
}

// waitIdle waits until no node of g has an active replica, or timeout passes, and
// returns the nodes' state then.
func waitIdle(ctx context.Context, g scaleGroup, timeout time.Duration) Snapshot {
	t0 := time.Now()
	reached := false
	for time.Since(t0) < timeout && ctx.Err() == nil {
		if a := activeOf(ctx, g); !slices.Contains(a, -1) && sum(a) == 0 {
			reached = true
			break
		}
		time.Sleep(2 * time.Second) // polling passivation, bounded by timeout
	}
	s := snapshotOf(ctx, g)
	s.After, s.Reached = time.Since(t0), reached && sum(s.Active) == 0
	return s
}

func sum(vs []int64) int64 {
	var n int64
	for _, v := range vs {
		n += v
	}
	return n
}

// snapshotOf reads every node's RSS and its active and stored gauges.
func snapshotOf(ctx context.Context, g scaleGroup) Snapshot {
	s := Snapshot{RSS: rssOf(g.group)}
	for _, in := range g.group {
		m := metricsOf(ctx, in)
		s.Active = append(s.Active, m["legion_partitions_active"])
		s.Stored = append(s.Stored, m["legion_partitions_stored"])
	}
	return s
}

// activeOf reads every node's legion_partitions_active gauge (-1 if unread).
func activeOf(ctx context.Context, g scaleGroup) []int64 {
	var out []int64
	for _, in := range g.group {
		v, ok := metricsOf(ctx, in)["legion_partitions_active"]
		if !ok {
			v = -1
		}
		out = append(out, v)
	}
	return out
}

// metricsOf reads the counter kind's legion_partitions_* gauges from a node's admin
// /metrics.
func metricsOf(ctx context.Context, in *instance) map[string]int64 {
	out := map[string]int64{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.admin+"/metrics", nil)
	if err != nil {
		return out
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, `{kind="counter"} `)
		if !ok || !strings.HasPrefix(name, "legion_partitions_") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
			out[name] = int64(v)
		}
	}
	return out
}

// rssOf reads every process's VmRSS, in bytes (-1 if unread).
func rssOf(g group) []int64 {
	var out []int64
	for _, in := range g {
		out = append(out, rss(in.pid()))
	}
	return out
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// diskOf returns the blocks allocated under each directory to files whose name ends
// with suffix (empty: all), in bytes, as du counts them.
func diskOf(dirs []string, suffix string) []int64 {
	var out []int64
	for _, d := range dirs {
		var n int64
		filepath.WalkDir(d, func(_ string, e fs.DirEntry, err error) error {
			if err != nil || !strings.HasSuffix(e.Name(), suffix) {
				return nil
			}
			if fi, err := e.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				}
			}
			return nil
		})
		out = append(out, n)
	}
	return out
}

// mib converts bytes to whole MiB, for logs.
func mib(bs []int64) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b >> 20
	}
	return out
}

// ScaleTable prints results as two Markdown tables: memory, disk and restart, then the
// loads. Per-node figures are ranges over the three nodes.
func ScaleTable(w io.Writer, results []ScaleResult, c ScaleConfig) {
	c = c.withDefaults()
	fmt.Fprintln(w, "| stored counters | populate | RSS per node, populated | idle: active, RSS per node | disk per node, per counter | idle CPU, 3 nodes | restart: up, answers, ready | at ready: active, RSS | idle again: active, RSS |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		var perCounter []float64
		for _, d := range r.DiskBytes {
			perCounter = append(perCounter, float64(d)/float64(r.Stored))
		}
		fmt.Fprintf(w, "| %s | %s (%s/s%s) | %s MiB | %s | %s MiB, %s | %.2f cores | %s, %s, **%s** | %s | %s |\n",
			thousands(r.Stored), secs(r.Populate), rate(float64(r.Stored)/r.Populate.Seconds()), failedNote(r.PopulateFailed),
			mibSpan(r.PopulatedRSS), idleCell(r.Idle), mibSpan(r.DiskBytes), bytesSpan(perCounter), r.IdleCPU,
			secs(r.Started), secs(r.Answered), secs(r.Ready), activeRSS(r.AtReady), idleCell(r.IdleAfterRestart))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| stored counters | random keys (%d clients): rate, p50, p99 | active after | hot set (%d keys): rate, p50, p99 | active after | random / hot |\n", c.Clients, c.HotKeys)
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f |\n", thousands(r.Stored), loadCell(r.Random), countSpan(r.RandomActive),
			loadCell(r.Hot), countSpan(r.HotActive), r.Random.Rate()/max(r.Hot.Rate(), 1e-9))
	}
}

func loadCell(r LoadResult) string {
	s := fmt.Sprintf("%s/s, p50 %s ms, p99 %s ms", rate(r.Rate()), millis(ms(r.Quantile(0.5))), millis(ms(r.Quantile(0.99))))
	return s + failedNote(r.Failed)
}

func failedNote(n int64) string {
	if n > 0 {
		return fmt.Sprintf(", %d failed", n)
	}
	return ""
}

func idleCell(s Snapshot) string {
	out := activeRSS(s)
	if !s.Reached {
		out += fmt.Sprintf(" (not idle after %s)", secs(s.After))
	} else {
		out += fmt.Sprintf(" (after %s)", secs(s.After))
	}
	return out
}

func activeRSS(s Snapshot) string {
	return fmt.Sprintf("%s active, %s stored, %s MiB", countSpan(s.Active), countSpan(s.Stored), mibSpan(s.RSS))
}

func countSpan(vs []int64) string {
	if len(vs) == 0 {
		return "?"
	}
	var fs []float64
	for _, v := range vs {
		fs = append(fs, float64(v))
	}
	return span(fs, func(v float64) string { return thousands(int(v)) })
}

func mibSpan(bs []int64) string {
	if len(bs) == 0 {
		return "?"
	}
	var fs []float64
	for _, b := range bs {
		fs = append(fs, float64(b)/(1<<20))
	}
	return span(fs, func(v float64) string { return fmt.Sprintf("%.0f", v) })
}

func bytesSpan(vs []float64) string {
	return span(vs, func(v float64) string {
		if v >= 10<<10 {
			return fmt.Sprintf("%.0f KiB", v/1024)
		}
		if v >= 1024 {
			return fmt.Sprintf("%.1f KiB", v/1024)
		}
		return fmt.Sprintf("%.0f B", v)
	})
}

// secs formats a duration in seconds with two significant digits (0.42 s, 3.1 s, 95 s).
func secs(d time.Duration) string { return millis(d.Seconds()) + " s" }

// thousands formats n with commas: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}
