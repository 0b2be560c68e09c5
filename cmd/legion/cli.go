package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/legion-go/legion/actor/admin"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // a node answered an error, or could not be reached
	exitUsage = 2
)

const usage = `usage: legion <command> [flags]

commands:
  status      health, counters and rates of each node
  members     the cluster view: members, their addresses, tombstones
  partitions  the partitions on a node (a page at a time; -all for every page)
  stalls      stalled partitions and the peers they wait for
  eject       eject a dead peer now: legion eject -confirm PEER PEER
  watch       status and stalls, redrawn every -interval until interrupted

Run 'legion <command> -h' for its flags.
`

// run is the command: args without the program's name. It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("legion "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addrs := fs.String("addr", admin.DefaultAddr, "host:port or URL of a node's admin API; several, comma-separated")
	asJSON := fs.Bool("json", false, "print the API's JSON as it came")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on each request")
	var c command
	switch cmd {
	case "status":
		c = &statusCmd{}
	case "members":
		c = &membersCmd{}
	case "partitions":
		c = &partitionsCmd{}
	case "stalls":
		c = &stallsCmd{}
	case "eject":
		c = &ejectCmd{}
	case "watch":
		c = &watchCmd{}
	default:
		fmt.Fprintf(stderr, "legion: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	nodes, err := parseAddrs(*addrs)
	if err == nil {
		err = c.check(fs.Args(), len(nodes))
	}
	if err != nil {
		fmt.Fprintf(stderr, "legion %s: %v\n", cmd, err)
		return exitUsage
	}
	env := &env{ctx: ctx, out: stdout, client: newClient(*timeout), json: *asJSON, nodes: nodes}
	failed := false
	for _, node := range nodes {
		if len(nodes) > 1 && !c.multi() {
			fmt.Fprintf(stdout, "== %s\n", node)
		}
		if err := c.run(env, node); err != nil {
			if c.multi() {
				fmt.Fprintf(stderr, "legion %s: %v\n", cmd, err) // names its nodes
			} else {
				fmt.Fprintf(stderr, "legion %s: %s: %v\n", cmd, node, err)
			}
			failed = true
		}
		if c.multi() {
			break // it asked every node itself
		}
	}
	if failed {
		return exitError
	}
	return exitOK
}

// command is one of legion's commands.
type command interface {
	flags(fs *flag.FlagSet)
	// check validates the positional arguments.
	check(args []string, nodes int) error
	// run runs the command against node (a base URL).
	run(e *env, node string) error
	// multi reports whether run asks every node itself (run is then called once).
	multi() bool
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	out    io.Writer
	client *client
	json   bool
	nodes  []string // every node given, for commands that ask them all at once
}

// parseAddrs turns -addr into base URLs: host:port becomes http://host:port.
func parseAddrs(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		u, err := url.Parse(a)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("-addr %q: want host:port or an http(s) URL", a)
		}
		out = append(out, strings.TrimRight(u.String(), "/"))
	}
	if len(out) == 0 {
		return nil, errors.New("-addr: no address")
	}
	return out, nil
}

// noArgs is check for the commands without positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q", args)
	}
	return nil
}
