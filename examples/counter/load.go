package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/legion-go/legion/actor"
)

// runLoad is the load subcommand: concurrent increments against nodes' HTTP APIs for a
// while; it prints throughput and latencies and writes every counter's acknowledged and
// uncertain increments to a file for check.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	targets := fs.String("targets", "127.0.0.1:8080", "comma-separated HTTP addresses of nodes; callers spread over them")
	duration := fs.Duration("duration", 5*time.Second, "how long to drive increments")
	concurrency := fs.Int("concurrency", 16, "concurrent callers")
	keys := fs.Int("keys", 200, "number of counters")
	consistency := fs.String("consistency", "mixed", "fast, consistent, or mixed (one increment in five consistent)")
	prefix := fs.String("prefix", "", "prefix of the counters' names (default: a random one, so that runs against one cluster do not mix)")
	out := fs.String("out", "acked.json", "file to write each counter's acknowledged and uncertain increments to")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	ratio, ok := map[string]float64{"fast": 0, "consistent": 1, "mixed": 0.2}[*consistency]
	switch {
	case !ok:
		return usageError(stderr, "load: -consistency %q: want fast, consistent or mixed", *consistency)
	case *duration <= 0 || *concurrency < 1 || *keys < 1:
		return usageError(stderr, "load: -duration, -concurrency and -keys must be positive")
	}
	if *prefix == "" {
		*prefix = fmt.Sprintf("k%04x-", rand.Uint32()&0xffff)
	}
	var bases []string
	for _, t := range strings.Split(*targets, ",") {
		bases = append(bases, baseURL(strings.TrimSpace(t)))
	}
	l := &httpLoad{ledger: newLedger(), client: &http.Client{
		Timeout:   callTimeout + 5*time.Second, // the node answers first
		Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency},
	}}
	names := counterKeys(*prefix, *keys)
	for _, k := range names {
		l.ledger.record(k, false, 0)
	}

	fmt.Fprintf(stdout, "incrementing for %v: %d callers over %d nodes, %d counters %s000..%s%03d, %s\n",
		*duration, *concurrency, len(bases), *keys, *prefix, *prefix, *keys-1, *consistency)
	loadCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	stop := progress(stdout, rate(&l.ops, &l.failed))
	l.run(loadCtx, bases, *concurrency, names, ratio)
	stop()
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "%d calls in %v: %d acknowledged, %d rejected, %d failed (outcome unknown)\n",
		l.ops.Load(), elapsed.Round(time.Millisecond), l.acked.Load(), l.rejected.Load(), l.failed.Load())
	if n := l.refused.Load(); n > 0 {
		fmt.Fprintf(stdout, "  %d connections refused (a node was down: not sent, not counted above)\n", n)
	}
	if e, ok := l.lastErr.Load().(string); ok {
		fmt.Fprintf(stdout, "  last failure: %s\n", e)
	}
	l.lat.print(stdout, elapsed)
	if err := writeLedger(*out, l.ledger.snapshot()); err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return exitOK
}

// httpLoad makes increments through nodes' HTTP APIs and records their outcomes. Its
// methods are safe for concurrent use.
type httpLoad struct {
	client  *http.Client
	ledger  *ledger
	lat     latencies
	lastErr atomic.Value // string

	ops, acked, rejected, failed atomic.Int64
	refused                      atomic.Int64 // connections refused: not sent, not in ops
}

// run runs callers until ctx ends and returns once they are done: caller i calls
// through bases[i mod len(bases)], picking counters at random and the Consistent level
// with probability ratio.
func (l *httpLoad) run(ctx context.Context, bases []string, callers int, keys []string, ratio float64) {
	var wg sync.WaitGroup
	for i := range callers {
		base := bases[i%len(bases)]
		wg.Go(func() {
			for ctx.Err() == nil {
				level := actor.Fast
				if rand.Float64() < ratio {
					level = actor.Consistent
				}
				if !l.increment(base, keys[rand.IntN(len(keys))], level) {
					// The node is down, or cannot serve the call now (the tests kill
					// nodes and cut them off): pace the caller rather than spin.
					select {
					case <-ctx.Done():
					case <-time.After(failedPause):
					}
				}
			}
		})
	}
	wg.Wait()
}

// failedPause is how long a caller pauses after a call that failed, or that its node
// refused to connect.
const failedPause = 100 * time.Millisecond

// increment adds 1 to a counter through the node at base. It returns false if the call
// failed (its outcome is unknown) or the node refused the connection (the request was
// never sent, so it logged nothing).
func (l *httpLoad) increment(base, key string, level actor.Consistency) bool {
	u := base + "/counters/" + url.PathEscape(key) + "/increment?by=1&consistency=" + levelName(level)
	start := time.Now()
	status, body, err := post(l.client, u)
	elapsed := time.Since(start)
	if errors.Is(err, syscall.ECONNREFUSED) { // no node listening: nothing sent
		l.refused.Add(1)
		l.lastErr.Store(err.Error())
		return false
	}
	l.ops.Add(1)
	switch {
	case err != nil: // the node may have logged it (once: request keys)
		l.ledger.record(key, false, 1)
		l.failed.Add(1)
		l.lastErr.Store(err.Error())
		return false
	case status == http.StatusOK:
		var ok counterJSON
		json.Unmarshal(body, &ok)
		l.ledger.record(key, true, ok.Uncertain)
		l.acked.Add(1)
		l.lat.add(level, elapsed)
	case status < 500: // bad request or rejected: not logged
		l.rejected.Add(1)
		l.lastErr.Store(fmt.Sprintf("%d %s", status, body))
	default:
		uncertain := int64(1) // unless the node says better
		var e errorJSON
		if json.Unmarshal(body, &e) == nil && e.Uncertain != nil {
			uncertain = *e.Uncertain
		}
		l.ledger.record(key, false, uncertain)
		l.failed.Add(1)
		l.lastErr.Store(fmt.Sprintf("%d %s", status, strings.TrimSpace(string(body))))
		return false
	}
	return true
}

func levelName(c actor.Consistency) string {
	if c == actor.Consistent {
		return "consistent"
	}
	return "fast"
}

// post POSTs to url with an empty body and returns the answer's status and body.
func post(client *http.Client, url string) (int, []byte, error) {
	resp, err := client.Post(url, "", nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
