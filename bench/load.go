package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Workload is one load shape: Clients callers, each making one increment at a time of a
// counter drawn uniformly from Keys counters, for the run's duration.
type Workload struct {
	Name    string // as the table prints it
	Clients int
	Keys    int
	// Pause is how long a client waits after each answer before its next call (zero:
	// none), so that the nodes are idle when a call arrives.
	Pause time.Duration
}

// Paused is a further workload, not in the default table: one client that waits 5 ms
// after each answer, so that every call finds the nodes idle (the previous increment's
// replication and syncs done).
var Paused = Workload{Name: "1 client, 5 ms between calls", Clients: 1, Keys: 50, Pause: 5 * time.Millisecond}

// Workloads are the three.
var Workloads = []Workload{
	{Name: "64 clients, 50 keys", Clients: 64, Keys: 50},
	{Name: "64 clients, 10,000 keys", Clients: 64, Keys: 10000},
	{Name: "1 client", Clients: 1, Keys: 50},
}

// LoadResult is what one run of a workload against one system measured.
type LoadResult struct {
	Elapsed   time.Duration
	Acked     map[string]int64 // per counter, the increments answered 200
	Failed    int64            // increments whose call failed: outcome unknown
	Latencies []time.Duration  // of the acknowledged increments, sorted
	Calls     []Call           // every acknowledged increment, in no particular order
}

// Call is one acknowledged increment: the target it went to (an index into the
// targets), the counter's index, and its latency.
type Call struct {
	Target, Key int
	Latency     time.Duration
}

// AckedTotal is the sum of r.Acked.
func (r LoadResult) AckedTotal() int64 {
	var n int64
	for _, v := range r.Acked {
		n += v
	}
	return n
}

// Rate is the acknowledged increments per second.
func (r LoadResult) Rate() float64 { return float64(r.AckedTotal()) / r.Elapsed.Seconds() }

// Quantile returns the q-quantile (0 < q < 1) of the acknowledged increments' latency.
func (r LoadResult) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[min(len(r.Latencies)-1, int(q*float64(len(r.Latencies))))]
}

// counterKeys names n counters with prefix.
func counterKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return keys
}

// drive runs w.Clients callers against targets (HTTP base URLs; caller i uses target i
// mod len(targets)) for d, each making increments of keys drawn at random; query is
// appended to each increment's URL ("consistency=fast"). Calls in flight when d ends run
// to their end, so that every call's outcome is known. A caller whose call failed pauses
// 100 ms rather than spin.
func drive(ctx context.Context, targets []string, clients int, keys []string, query string, d time.Duration) LoadResult {
	return driveWith(ctx, targets, clients, keys, query, d, driveOptions{})
}

// driveWorkload is driveWith for w's clients and pause.
func driveWorkload(ctx context.Context, targets []string, w Workload, keys []string, query string, d time.Duration, o driveOptions) LoadResult {
	o.pause = w.Pause
	return driveWith(ctx, targets, w.Clients, keys, query, d, o)
}

// driveOptions are drive's optional behaviours.
type driveOptions struct {
	// acked, if not nil, has each acknowledged increment added as it happens, so that a
	// part of the run can be measured.
	acked *atomic.Int64
	// route, if not nil, sends every increment of keys[i] to targets[route[i]], whichever
	// client makes it (instead of client c's calls all going to target c mod len).
	route []int
	// pause is how long a client waits after each answer.
	pause time.Duration
}

// driveWith is drive with options.
func driveWith(ctx context.Context, targets []string, clients int, keys []string, query string, d time.Duration, o driveOptions) LoadResult {
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxIdleConns: clients * 2},
	}
	defer client.CloseIdleConnections()
	type callerResult struct {
		acked  map[string]int64
		failed int64
		lat    []time.Duration
		calls  []Call
	}
	results := make([]callerResult, clients)
	urls := make([][]string, len(targets)) // the increment URL of each key at each target
	for t, base := range targets {
		urls[t] = make([]string, len(keys))
		for i, k := range keys {
			urls[t][i] = base + "/counters/" + url.PathEscape(k) + "/increment?by=1"
			if query != "" {
				urls[t][i] += "&" + query
			}
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			r := callerResult{acked: map[string]int64{}}
			rng := rand.New(rand.NewPCG(uint64(c), uint64(start.UnixNano())))
			for runCtx.Err() == nil {
				i := rng.IntN(len(keys))
				target := c % len(targets)
				if o.route != nil {
					target = o.route[i]
				}
				t0 := time.Now()
				if ok := increment(client, urls[target][i]); ok {
					lat := time.Since(t0)
					r.lat = append(r.lat, lat)
					r.calls = append(r.calls, Call{Target: target, Key: i, Latency: lat})
					r.acked[keys[i]]++
					if o.acked != nil {
						o.acked.Add(1)
					}
					if o.pause > 0 {
						select {
						case <-runCtx.Done():
						case <-time.After(o.pause):
						}
					}
					continue
				}
				r.failed++
				select {
				case <-runCtx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
			results[c] = r
		})
	}
	wg.Wait()
	out := LoadResult{Elapsed: time.Since(start), Acked: map[string]int64{}}
	for _, r := range results {
		for k, v := range r.acked {
			out.Acked[k] += v
		}
		out.Failed += r.failed
		out.Latencies = append(out.Latencies, r.lat...)
		out.Calls = append(out.Calls, r.calls...)
	}
	slices.Sort(out.Latencies)
	return out
}

// increment POSTs one increment and says whether it was acknowledged (200).
func increment(client *http.Client, u string) bool {
	resp, err := client.Post(u, "", nil)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// prime makes one increment of every counter of keys, clients at a time, through
// targets, so that every counter exists before a measurement.
func prime(targets []string, clients int, keys []string, query string) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			base := targets[c%len(targets)]
			for i := c; i < len(keys); i += clients {
				u := base + "/counters/" + url.PathEscape(keys[i]) + "/increment?by=1"
				if query != "" {
					u += "&" + query
				}
				increment(client, u)
			}
		})
	}
	wg.Wait()
}
