package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/legion-go/legion/actor/admin"
)

func table(e *env) *tabwriter.Writer { return tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0) }

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

func list(ss []string) string {
	if len(ss) == 0 {
		return "-"
	}
	return strings.Join(ss, ",")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// status: one row per node.
type statusCmd struct{}

func (*statusCmd) flags(*flag.FlagSet)              {}
func (*statusCmd) check(args []string, _ int) error { return noArgs(args) }
func (*statusCmd) multi() bool                      { return true }
func (*statusCmd) run(e *env, _ string) error       { return statusOf(e, nil) }

// statusOf prints the status of every node; with prev (the readings of the last call,
// by node, updated), the rates since then.
func statusOf(e *env, prev map[string]admin.Status) error {
	var errs []error
	w := table(e)
	if !e.json {
		header := "NODE\tNAME\tPEER\tREADY\tMEMBERS\tREPLICAS\tSTALLED\tPENDING\tMAX LAG\tHANDOFFS"
		if prev != nil {
			header += "\tFLUSHES/S\tSENT/S\tRECEIVED/S"
		}
		fmt.Fprintln(w, header)
	}
	for _, node := range e.nodes {
		var st admin.Status
		raw, err := e.client.get(e.ctx, node, "/api/status", &st)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", node, err))
			if !e.json {
				fmt.Fprintf(w, "%s\tunreachable: %v\n", node, err)
			}
			continue
		}
		if e.json {
			e.out.Write(raw)
			continue
		}
		ready := yesNo(st.Health.Ready)
		if !st.Health.Running {
			ready = "stopped"
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d", node, st.Name, st.Peer, ready, st.Health.Members,
			st.Replicas, st.Stalled, st.Pending, secs(st.MaxLag), st.Handoffs)
		if prev != nil {
			if p, ok := prev[node]; ok && st.Time.After(p.Time) {
				dt := st.Time.Sub(p.Time).Seconds()
				rate := func(a, b int64) string { return strconv.FormatFloat(float64(a-b)/dt, 'f', 1, 64) }
				row += "\t" + rate(st.Stats.Flushes, p.Stats.Flushes) + "\t" + rate(st.Stats.Sent, p.Stats.Sent) + "\t" + rate(st.Stats.Received, p.Stats.Received)
			} else {
				row += "\t-\t-\t-"
			}
			prev[node] = st
		}
		fmt.Fprintln(w, row)
		for _, r := range st.Health.NotReady {
			fmt.Fprintf(w, "\tnot ready: %s\n", r)
		}
	}
	w.Flush()
	return errors.Join(errs...)
}

// members: the cluster view of each node.
type membersCmd struct{}

func (*membersCmd) flags(*flag.FlagSet)              {}
func (*membersCmd) check(args []string, _ int) error { return noArgs(args) }
func (*membersCmd) multi() bool                      { return false }

func (*membersCmd) run(e *env, node string) error {
	var ms admin.Members
	raw, err := e.client.get(e.ctx, node, "/api/members", &ms)
	if err != nil {
		return err
	}
	if e.json {
		e.out.Write(raw)
		return nil
	}
	w := table(e)
	fmt.Fprintln(w, "PEER\tNAME\tADDRESS\tADMIN\tKINDS\tSTATE\tFOR\tPARTITIONS")
	for _, m := range ms.Members {
		state := "live"
		switch {
		case !m.Live:
			state = "gone"
		case m.Departing:
			state = "departing"
		}
		peer := m.Peer
		if m.Self {
			peer += " (*)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", peer, dash(m.Name), dash(m.Address), dash(m.Meta["admin"]), list(m.Kinds), state, secs(m.For), m.Partitions)
	}
	w.Flush()
	partial := ""
	if ms.Partial {
		partial = " (the view is partial)"
	}
	fmt.Fprintf(e.out, "%d live of %d known%s; (*) is the node asked; PARTITIONS: of its replicas, those the peer participates in\n", ms.Live, len(ms.Members), partial)
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// partitions: a node's replicas, a page at a time.
type partitionsCmd struct {
	kind, after string
	stalled     bool
	limit       int
	all         bool
}

func (c *partitionsCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.kind, "kind", "", "only this kind")
	fs.BoolVar(&c.stalled, "stalled", false, "only partitions with deltas pending")
	fs.IntVar(&c.limit, "limit", admin.DefaultMaxPage, "partitions per page (the node caps it)")
	fs.StringVar(&c.after, "after", "", "start after this partition (kind/key): the next page")
	fs.BoolVar(&c.all, "all", false, "every page, not only the first")
}

func (c *partitionsCmd) check(args []string, _ int) error {
	if c.limit < 1 {
		return fmt.Errorf("-limit %d: want at least 1", c.limit)
	}
	return noArgs(args)
}

func (*partitionsCmd) multi() bool { return false }

func (c *partitionsCmd) run(e *env, node string) error {
	after := c.after
	w := table(e)
	if !e.json {
		fmt.Fprintln(w, "PARTITION\tREPLICA SET\tPARTICIPANTS\tJOINING\tLEAVING\tPENDING\tLAG\tOWED")
	}
	for {
		q := url.Values{"limit": {strconv.Itoa(c.limit)}}
		if after != "" {
			q.Set("after", after)
		}
		if c.kind != "" {
			q.Set("kind", c.kind)
		}
		if c.stalled {
			q.Set("stalled", "1")
		}
		var p admin.Partitions
		raw, err := e.client.get(e.ctx, node, "/api/partitions?"+q.Encode(), &p)
		if err != nil {
			w.Flush()
			return err
		}
		if e.json {
			e.out.Write(raw)
		} else {
			for _, x := range p.Partitions {
				lag := "-"
				if x.Pending > 0 {
					lag = secs(x.Lag)
				}
				var owed []string
				for _, o := range x.Owed {
					owed = append(owed, fmt.Sprintf("%s:%d", o.Peer, o.Acks))
				}
				fmt.Fprintf(w, "%s/%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", x.Kind, x.Key, list(x.ReplicaSet), list(x.Participants),
					list(x.Joining), list(x.Leaving), x.Pending, lag, list(owed))
			}
		}
		if p.Next == "" || !c.all {
			if !e.json {
				w.Flush()
				fmt.Fprintf(e.out, "%d partitions", p.Total)
				if p.Next != "" {
					fmt.Fprintf(e.out, "; next page: -after %s (or -all)", p.Next)
				}
				fmt.Fprintln(e.out)
			}
			return nil
		}
		after = p.Next
	}
}

// stalls: where garbage collection waits, on each node.
type stallsCmd struct{ limit int }

func (c *stallsCmd) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.limit, "limit", 20, "stalled partitions to list, longest stalled first (the node caps it)")
}

func (c *stallsCmd) check(args []string, _ int) error {
	if c.limit < 1 {
		return fmt.Errorf("-limit %d: want at least 1", c.limit)
	}
	return noArgs(args)
}

func (*stallsCmd) multi() bool { return false }

func (c *stallsCmd) run(e *env, node string) error {
	var s admin.Stalls
	raw, err := e.client.get(e.ctx, node, "/api/stalls?limit="+strconv.Itoa(c.limit), &s)
	if err != nil {
		return err
	}
	if e.json {
		e.out.Write(raw)
		return nil
	}
	printStalls(e, s)
	return nil
}

func printStalls(e *env, s admin.Stalls) {
	if len(s.Peers) == 0 && s.Total == 0 {
		fmt.Fprintln(e.out, "no stalls: nothing pending")
		return
	}
	w := table(e)
	fmt.Fprintln(w, "PEER\tSTATE\tPARTITIONS\tACKS OWED\tSTALLED FOR")
	for _, p := range s.Peers {
		state := "live"
		if !p.Live {
			state = "gone"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", p.Peer, state, p.Partitions, p.Acks, secs(p.Stalled))
	}
	w.Flush()
	fmt.Fprintln(e.out)
	w = table(e)
	fmt.Fprintln(w, "PARTITION\tPENDING\tSTALLED FOR\tOWED")
	for _, p := range s.Partitions {
		var owed []string
		for _, o := range p.Owed {
			owed = append(owed, fmt.Sprintf("%s:%d", o.Peer, o.Acks))
		}
		fmt.Fprintf(w, "%s/%s\t%d\t%s\t%s\n", p.Kind, p.Key, p.Pending, secs(p.Stalled), list(owed))
	}
	w.Flush()
	if s.Total > len(s.Partitions) {
		fmt.Fprintf(e.out, "(%d of %d stalled partitions)\n", len(s.Partitions), s.Total)
	}
}

// eject: declare a peer dead on each node given.
type ejectCmd struct {
	confirm string
	peer    string
}

func (c *ejectCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.confirm, "confirm", "", "the peer again: the node refuses to eject without it")
}

func (c *ejectCmd) check(args []string, _ int) error {
	if len(args) != 1 || args[0] == "" {
		return errors.New("want one peer: legion eject -confirm PEER PEER (the peer as 'legion members' lists it)")
	}
	c.peer = args[0]
	return nil
}

func (*ejectCmd) multi() bool { return false }

func (c *ejectCmd) run(e *env, node string) error {
	form := url.Values{"peer": {c.peer}}
	if c.confirm != "" {
		form.Set("confirm", c.confirm)
	}
	raw, err := e.client.do(e.ctx, "POST", node+"/api/eject", form)
	if err != nil {
		return err
	}
	if e.json {
		e.out.Write(raw)
		return nil
	}
	var res admin.EjectResult
	if err := jsonUnmarshal(raw, &res); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%s: ejecting %s: %d active partitions eject it here", node, res.Peer, res.Partitions)
	if res.Others > 0 {
		fmt.Fprintf(e.out, "; %d more are written by another node or blocked (eject on every live node)", res.Others)
	}
	fmt.Fprintln(e.out)
	return nil
}

// watch: status and stalls, again and again.
type watchCmd struct {
	interval time.Duration
	count    int
}

func (c *watchCmd) flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.interval, "interval", 2*time.Second, "time between two readings")
	fs.IntVar(&c.count, "count", 0, "stop after this many readings (0: until interrupted)")
}

func (c *watchCmd) check(args []string, _ int) error {
	if c.interval <= 0 {
		return fmt.Errorf("-interval %v: want a positive duration", c.interval)
	}
	if c.count < 0 {
		return fmt.Errorf("-count %d: want 0 or more", c.count)
	}
	return noArgs(args)
}

func (*watchCmd) multi() bool { return true }

func (c *watchCmd) run(e *env, _ string) error {
	prev := map[string]admin.Status{}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for i := 0; c.count == 0 || i < c.count; i++ {
		if i > 0 {
			select {
			case <-e.ctx.Done():
				return nil
			case <-t.C:
			}
		}
		if !e.json {
			fmt.Fprintf(e.out, "--- %s\n", time.Now().Format(time.TimeOnly))
		}
		err := statusOf(e, prev)
		for _, node := range e.nodes {
			var s admin.Stalls
			raw, serr := e.client.get(e.ctx, node, "/api/stalls?limit=5", &s)
			switch {
			case serr != nil:
			case e.json:
				e.out.Write(raw)
			case len(s.Peers) > 0:
				fmt.Fprintf(e.out, "stalls on %s:\n", node)
				printStalls(e, s)
			}
		}
		if err != nil && !e.json {
			fmt.Fprintln(e.out, err)
		}
		if !e.json {
			fmt.Fprintln(e.out)
		}
	}
	return nil
}
