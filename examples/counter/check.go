package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
)

// runCheck is the check subcommand: it reads the increments a load run recorded, asks
// a node for every replica of every counter, and ends with the summary line.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	target := fs.String("target", "127.0.0.1:8080", "HTTP address of a node")
	in := fs.String("in", "acked.json", "file written by load -out")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the replicas to converge")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	want, err := readLedger(*in)
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return exitFailed
	}
	base := baseURL(*target)
	client := &http.Client{Timeout: 30 * time.Second}
	read := func(ctx context.Context, key string) ([]replicaValue, error) {
		var rs []replicaValue
		err := getJSON(ctx, client, base+"/counters/"+url.PathEscape(key)+"/replicas", &rs)
		return rs, err
	}
	fmt.Fprintf(stdout, "checking %d counters through %s (every replica, both read levels)\n", len(want), *target)
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	s, problems := awaitConvergence(ctx, want, read)
	return verdict(stdout, s, problems)
}

// verdict prints what a check found, ending with the summary line, and returns the exit
// status.
func verdict(w io.Writer, s summary, problems []string) int {
	printProblems(w, problems)
	fmt.Fprintln(w, s)
	if !s.ok() {
		return exitFailed
	}
	return exitOK
}

// readFunc reads what each replica of a counter holds. It may block until ctx ends.
type readFunc func(ctx context.Context, key string) ([]replicaValue, error)

// awaitConvergence reads every counter's replicas until they all agree (replication is
// asynchronous) or ctx ends, and judges the last complete reading.
func awaitConvergence(ctx context.Context, want map[string]tally, read readFunc) (summary, []string) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last summary
	var lastProblems []string
	for round := 0; ; round++ {
		got := make(map[string][]replicaValue, len(want))
		for key := range want {
			if ctx.Err() != nil && round > 0 {
				return last, lastProblems
			}
			rs, err := read(ctx, key)
			if err != nil {
				rs = []replicaValue{{Peer: "?", Error: err.Error()}}
			}
			got[key] = rs
		}
		last, lastProblems = judge(want, got)
		if last.Converged {
			return last, lastProblems
		}
		select {
		case <-ctx.Done():
			return last, lastProblems
		case <-tick.C:
		}
	}
}

// replicaValues asks each replica of a counter, through node n, for its value at both
// read levels.
func replicaValues(ctx context.Context, n *actor.Node, key string) []replicaValue {
	ref := actor.RefOf(n, Counter, key)
	var out []replicaValue
	for _, p := range ref.Replicas() {
		r := replicaValue{Peer: string(p)}
		v, err := ref.QueryReplica(ctx, p, &wrapperspb.Int64Value{}, actor.Projected)
		if err == nil {
			r.Value = v.GetValue()
			v, err = ref.QueryReplica(ctx, p, &wrapperspb.Int64Value{}, actor.Stable)
			r.Stable = v.GetValue()
		}
		if err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out
}

// baseURL turns a host:port (or a URL) into a URL without a trailing slash.
func baseURL(target string) string {
	if u, err := url.Parse(target); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return strings.TrimSuffix(target, "/")
	}
	return "http://" + strings.TrimSuffix(target, "/")
}

// getJSON GETs url and decodes a 200 answer's JSON body into v.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}
