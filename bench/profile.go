package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
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

// ProfileConfig is one profiled run of the counter's three nodes.
type ProfileConfig struct {
	// Consistency is the increments' level: "fast" (the default when empty) or
	// "consistent".
	Consistency string
	Workload    Workload
	// Duration is the load; the measurements cover all of it but the first and the
	// last second. At least 3 s.
	Duration time.Duration
	Dir      string // the nodes' data
	Out      string // where the profiles and traces are written
	InMemory bool   // nodes without a store
	Env      string // added to the nodes' environment ("GOMAXPROCS=1"), if not empty
	// Routed sends each counter's increments to the node of its first replica.
	Routed bool
	// Prime increments every counter of the workload once before the measured run, so
	// that it measures counters that exist (steady state) rather than their creation.
	Prime bool
}

// NodeProfile is what one node did in the measured window.
type NodeProfile struct {
	Name            string
	UserCPU, SysCPU time.Duration    // from /proc/PID/stat
	Stats           map[string]int64 // the change of GET /stats (actor.Stats)
	ReplBytes       int64            // bytes sent on its remoting connections (ss)
	ReplSegments    int64            // TCP segments sent on them
	Perf            map[string]int64 // perf stat counts (syscalls, context switches); nil without perf
}

// ProfileResult is one profiled run.
type ProfileResult struct {
	Workload    Workload
	Consistency string // of the increments
	Primed      bool   // every counter existed before the measured run
	Routed      bool   // each counter's increments went to its first replica's node
	Window      time.Duration
	Increments  int64 // acknowledged in the window
	Rate        float64
	Nodes       []NodeProfile
	Files       []string // the CPU profiles and traces written
	PerfErr     error    // why perf counts are missing, if they are
	// Idle is what the nodes did in IdleWindow right after the load: the cost of the
	// partitions the load left active (gc ticks, anti-entropy).
	Idle       []NodeProfile
	IdleWindow time.Duration
	// Local and Remote are the latencies of the run's calls (a sample of its counters)
	// whose first replica was on the node the client called, and on another node: what
	// the hop from the HTTP handler to the replica costs. Sorted.
	Local, Remote []time.Duration
	// SyncP50 and SyncP99 are the disk's 4 KiB append + fdatasync latency, measured
	// just before the run (SyncLatency).
	SyncP50, SyncP99 time.Duration
}

// perfEvents are the counts perf stat takes of each node.
var perfEvents = []string{
	"task-clock", "context-switches", "cpu-migrations",
	"raw_syscalls:sys_enter",
	"syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync", "syscalls:sys_enter_sync_file_range",
	"syscalls:sys_enter_write", "syscalls:sys_enter_pwrite64", "syscalls:sys_enter_writev",
	"syscalls:sys_enter_read", "syscalls:sys_enter_futex", "syscalls:sys_enter_epoll_pwait",
	"syscalls:sys_enter_nanosleep",
}

// Profile starts three counter nodes, drives c.Workload's fast increments, and while it
// runs takes each node's CPU profile (written to c.Out), its CPU time, replication
// counters and bytes, and perf's syscall and context-switch counts (when perf works
// here); then, in a second short run, a one-second execution trace of each node (for
// off-CPU time: go tool trace -pprof=sync|syscall|net|sched).
func Profile(ctx context.Context, b Binaries, c ProfileConfig) (*ProfileResult, error) {
	if c.Consistency == "" {
		c.Consistency = "fast"
	}
	query := "consistency=" + c.Consistency
	slug := strings.NewReplacer(" ", "", ",", "").Replace(c.Workload.Name)
	if c.Consistency != "fast" {
		slug += "-" + c.Consistency
	}
	dir := filepath.Join(c.Dir, "profile-"+slug)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p50, p99, _ := SyncLatency(dir, 200)
	g, err := startLegion(ctx, b, dir, !c.InMemory, c.Env)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	w := c.Workload
	drive(ctx, g.targets(), w.Clients, counterKeys("warm-", w.Keys), query, 300*time.Millisecond)

	keys := counterKeys("p-", w.Keys)
	if c.Prime {
		prime(g.targets(), w.Clients, keys, query)
	}
	var o driveOptions
	if c.Routed {
		if o.route, err = firstReplicas(ctx, g, keys); err != nil {
			return nil, err
		}
	}
	window := c.Duration - 2*time.Second
	secs := int(window / time.Second)
	window = time.Duration(secs) * time.Second
	var acked atomic.Int64
	loadDone := make(chan LoadResult, 1)
	go func() {
		loadDone <- driveWorkload(ctx, g.targets(), w, keys, query, c.Duration, driveOptions{acked: &acked, route: o.route})
	}()
	time.Sleep(time.Second) // the load's first second is not measured

	res := &ProfileResult{Workload: w, Window: window, SyncP50: p50, SyncP99: p99, Primed: c.Prime, Routed: c.Routed, Consistency: c.Consistency}
	before := snapshot(ctx, g)
	n0 := acked.Load()
	var wg sync.WaitGroup
	perfs := make([]map[string]int64, len(g))
	perfErrs := make([]error, len(g))
	for i, in := range g {
		file := filepath.Join(c.Out, fmt.Sprintf("%s-%s.cpu.pprof", slug, in.name[len("legion "):]))
		res.Files = append(res.Files, file)
		wg.Go(func() {
			fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", in.pprof, secs), file)
		})
		wg.Go(func() { perfs[i], perfErrs[i] = perfStat(ctx, in.pid(), window) })
	}
	wg.Wait()
	after := snapshot(ctx, g)
	res.Increments = acked.Load() - n0
	res.Rate = float64(res.Increments) / window.Seconds()
	lr := <-loadDone
	res.Local, res.Remote = splitByFirstReplica(ctx, g, keys, lr.Calls)
	res.Nodes = between(g, before, after)
	for i := range g {
		res.Nodes[i].Perf = perfs[i]
		if perfErrs[i] != nil {
			res.PerfErr = perfErrs[i]
		}
	}
	res.IdleWindow = 2 * time.Second
	idle0 := snapshot(ctx, g)
	time.Sleep(res.IdleWindow) // a fixed window to measure, not a wait for a state
	res.Idle = between(g, idle0, snapshot(ctx, g))

	// Traces, in a run of their own: tracing costs CPU the profile should not see.
	res.Files = append(res.Files, traceNodes(ctx, g, w, query, filepath.Join(c.Out, slug))...)
	return res, nil
}

// traceNodes drives w against g for 3 s and, from its second second, takes a one-second
// execution trace of every node, written to prefix-NODE.trace. It returns the files.
func traceNodes(ctx context.Context, g group, w Workload, query, prefix string) []string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		drive(ctx, g.targets(), w.Clients, counterKeys("t-", w.Keys), query, 3*time.Second)
	}()
	time.Sleep(time.Second) // the load's first second is not traced
	var files []string
	var wg sync.WaitGroup
	for _, in := range g {
		file := fmt.Sprintf("%s-%s.trace", prefix, in.name[len("legion "):])
		files = append(files, file)
		wg.Go(func() { fetch(ctx, "http://"+in.pprof+"/debug/pprof/trace?seconds=1", file) })
	}
	wg.Wait()
	<-done
	return files
}

// Print writes r as a few lines: the rate, and per increment each node's CPU time,
// replication messages and bytes, syscalls and fsyncs.
func (r *ProfileResult) Print(w io.Writer) {
	inc := float64(max(1, r.Increments))
	primed := ""
	if r.Primed {
		primed = ", every counter created before"
	}
	if r.Routed {
		primed += ", routed to the first replica"
	}
	fmt.Fprintf(w, "\n%s%s, %s: %d increments in %v, %.0f/s (the disk: append + fdatasync p50=%v p99=%v)\n", r.Workload.Name, primed, r.Consistency,
		r.Increments, r.Window, r.Rate, r.SyncP50.Round(10*time.Microsecond), r.SyncP99.Round(10*time.Microsecond))
	fmt.Fprintf(w, "  per increment     %8s %8s %8s %7s %7s %7s %7s %7s %8s %7s %7s %7s\n",
		"user us", "sys us", "cpu us", "sent", "envel", "recv", "flush", "commit", "bytes", "segs", "fsync", "ctxsw")
	var tot NodeProfile
	tot.Stats, tot.Perf = map[string]int64{}, map[string]int64{}
	for _, n := range r.Nodes {
		printNode(w, n, inc)
		tot.UserCPU += n.UserCPU
		tot.SysCPU += n.SysCPU
		for k, v := range n.Stats {
			tot.Stats[k] += v
		}
		for k, v := range n.Perf {
			tot.Perf[k] += v
		}
		tot.ReplBytes += n.ReplBytes
		tot.ReplSegments += n.ReplSegments
	}
	tot.Name = "all"
	printNode(w, tot, inc)
	if r.PerfErr != nil {
		fmt.Fprintf(w, "  perf: %v\n", r.PerfErr)
	} else {
		fmt.Fprintf(w, "  syscalls per increment (all nodes):")
		for _, e := range perfEvents[3:] {
			fmt.Fprintf(w, " %s=%.2f", syscallLabel(e), float64(tot.Perf[e])/inc)
		}
		fmt.Fprintln(w)
	}
	if len(r.Local) > 0 && len(r.Remote) > 0 {
		q := func(l []time.Duration, f float64) time.Duration {
			return l[min(len(l)-1, int(f*float64(len(l))))].Round(10 * time.Microsecond)
		}
		fmt.Fprintf(w, "  calls whose first replica is the called node's own: %d, p50 %v p99 %v; on another node: %d, p50 %v p99 %v\n",
			len(r.Local), q(r.Local, 0.5), q(r.Local, 0.99), len(r.Remote), q(r.Remote, 0.5), q(r.Remote, 0.99))
	}
	if len(r.Idle) > 0 {
		var cpu time.Duration
		var sent, flushes int64
		for _, n := range r.Idle {
			cpu += n.UserCPU + n.SysCPU
			sent += n.Stats["Sent"]
			flushes += n.Stats["Flushes"]
		}
		secs := r.IdleWindow.Seconds()
		fmt.Fprintf(w, "  idle, the %v after the load (all nodes): CPU %.0f ms/s, %.0f replication messages/s, %.0f flushes/s\n",
			r.IdleWindow, float64(cpu)/float64(time.Millisecond)/secs, float64(sent)/secs, float64(flushes)/secs)
	}
	for _, f := range r.Files {
		fmt.Fprintf(w, "  wrote %s\n", f)
	}
}

func printNode(w io.Writer, n NodeProfile, inc float64) {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / inc }
	per := func(v int64) float64 { return float64(v) / inc }
	fsync := n.Perf["syscalls:sys_enter_fsync"] + n.Perf["syscalls:sys_enter_fdatasync"]
	fmt.Fprintf(w, "  %-16s  %8.0f %8.0f %8.0f %7.2f %7.2f %7.2f %7.2f %7.2f %8.0f %7.2f %7.2f %7.2f\n", n.Name,
		us(n.UserCPU), us(n.SysCPU), us(n.UserCPU+n.SysCPU),
		per(n.Stats["Sent"]), per(n.Stats["Envelopes"]), per(n.Stats["Received"]), per(n.Stats["Flushes"]), per(n.Stats["Commits"]),
		per(n.ReplBytes), per(n.ReplSegments), per(fsync), per(n.Perf["context-switches"]))
}

// splitByFirstReplica sorts the latencies of calls (of up to 200 of keys' counters) by
// whether the counter's first replica was on the node the call went to.
func splitByFirstReplica(ctx context.Context, g group, keys []string, calls []Call) (local, remote []time.Duration) {
	first := map[int]string{} // key index -> peer of its first replica
	for _, c := range calls {
		if _, ok := first[c.Key]; ok || len(first) >= 200 {
			continue
		}
		var rs []replicaJSON
		if err := getJSON(ctx, "http://"+g[0].http+"/counters/"+keys[c.Key]+"/replicas", &rs); err != nil || len(rs) == 0 {
			first[c.Key] = ""
			continue
		}
		first[c.Key] = rs[0].Peer
	}
	for _, c := range calls {
		switch p := first[c.Key]; {
		case p == "":
		case p == g[c.Target].peer:
			local = append(local, c.Latency)
		default:
			remote = append(remote, c.Latency)
		}
	}
	slices.Sort(local)
	slices.Sort(remote)
	return local, remote
}

// between returns what each node of g did from snapshot a to snapshot b.
func between(g group, a, b snap) []NodeProfile {
	var out []NodeProfile
	for i, in := range g {
		np := NodeProfile{Name: in.name[len("legion "):], Stats: map[string]int64{}}
		np.UserCPU = b.cpu[i][0] - a.cpu[i][0]
		np.SysCPU = b.cpu[i][1] - a.cpu[i][1]
		for k, v := range b.stats[i] {
			np.Stats[k] = v - a.stats[i][k]
		}
		for sock, x := range b.socks[i] {
			y := a.socks[i][sock]
			np.ReplBytes += x[0] - y[0]
			np.ReplSegments += x[1] - y[1]
		}
		out = append(out, np)
	}
	return out
}

// snap is the nodes' counters at one moment, in the group's order.
type snap struct {
	cpu   [][2]time.Duration // user, system
	stats []map[string]int64
	socks []map[string][2]int64 // remoting connection -> bytes sent, segments sent
}

func snapshot(ctx context.Context, g group) snap {
	var s snap
	remoting := map[string]bool{}
	for _, in := range g {
		if _, port, ok := strings.Cut(in.remoting, ":"); ok {
			remoting[port] = true
		}
	}
	socks := tcpSockets()
	for _, in := range g {
		s.cpu = append(s.cpu, procCPU(in.pid()))
		st := map[string]int64{}
		getJSON(ctx, "http://"+in.http+"/stats", &st)
		s.stats = append(s.stats, st)
		mine := map[string][2]int64{}
		for _, k := range socks {
			if k.pid == in.pid() && (remoting[port(k.local)] || remoting[port(k.peer)]) {
				mine[k.local+" "+k.peer] = [2]int64{k.bytesSent, k.segsOut}
			}
		}
		s.socks = append(s.socks, mine)
	}
	return s
}

func port(hostPort string) string {
	i := strings.LastIndexByte(hostPort, ':')
	return hostPort[i+1:]
}

// procCPU returns the user and system CPU time process pid has used (its threads, not
// its waited-for children).
func procCPU(pid int) [2]time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return [2]time.Duration{}
	}
	// The command name, in parentheses, may hold spaces: the fields start after ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	// utime and stime are fields 14 and 15 of the whole line, 12 and 13 here, in clock
	// ticks: 100 a second on Linux (sysconf(_SC_CLK_TCK)).
	const tick = 10 * time.Millisecond
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return [2]time.Duration{time.Duration(u) * tick, time.Duration(s) * tick}
}

// tcpSocket is one established TCP connection as ss shows it.
type tcpSocket struct {
	local, peer        string
	pid                int
	bytesSent, segsOut int64
}

var (
	ssPid   = regexp.MustCompile(`pid=(\d+)`)
	ssBytes = regexp.MustCompile(`bytes_sent:(\d+)`)
	ssSegs  = regexp.MustCompile(`segs_out:(\d+)`)
)

// tcpSockets lists the machine's established TCP connections with their owners and
// counters (ss -tinp); nil without ss.
func tcpSockets() []tcpSocket {
	out, err := exec.Command("ss", "-tinpH", "state", "established").Output()
	if err != nil {
		return nil
	}
	var socks []tcpSocket
	lines := strings.Split(string(out), "\n")
	for i := 0; i+1 < len(lines); i++ {
		f := strings.Fields(lines[i])
		if len(f) < 5 || !strings.HasPrefix(lines[i+1], "\t") {
			continue
		}
		k := tcpSocket{local: f[2], peer: f[3]}
		if m := ssPid.FindStringSubmatch(lines[i]); m != nil {
			k.pid, _ = strconv.Atoi(m[1])
		}
		if m := ssBytes.FindStringSubmatch(lines[i+1]); m != nil {
			k.bytesSent, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := ssSegs.FindStringSubmatch(lines[i+1]); m != nil {
			k.segsOut, _ = strconv.ParseInt(m[1], 10, 64)
		}
		socks = append(socks, k)
		i++
	}
	return socks
}

// perfStat counts perfEvents in process pid for d with perf stat.
func perfStat(ctx context.Context, pid int, d time.Duration) (map[string]int64, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, fmt.Errorf("no perf (apt-get install linux-perf): %w", err)
	}
	cmd := exec.CommandContext(ctx, "perf", "stat", "-x", ",", "-e", strings.Join(perfEvents, ","),
		"-p", strconv.Itoa(pid), "--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("perf stat: %w: %s", err, tail(string(out)))
	}
	counts := map[string]int64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue // <not counted>, <not supported>
		}
		counts[f[2]] = int64(v)
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("perf stat counted nothing: %s", tail(string(out)))
	}
	return counts, nil
}

// fetch GETs url into file.
func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

// syscallLabel names a perf event in Print's syscall line.
func syscallLabel(event string) string {
	if event == "raw_syscalls:sys_enter" {
		return "all"
	}
	return strings.TrimPrefix(event, "syscalls:sys_enter_")
}
