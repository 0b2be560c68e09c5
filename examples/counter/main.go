// Command counter is Legion's example: a replicated counter. Without a subcommand it
// runs a three-node cluster in this process, drives concurrent increments through every
// node, and checks that every replica of every counter holds exactly what was
// acknowledged; with -partition it cuts one node off first. The subcommands run the same
// counter across processes:
//
//	counter [-duration 5s] [-clients 32] [-keys 200] [-consistent-ratio 0.2] [-partition]
//	counter node -name n1 -data DIR [-listen HOST:PORT] [-http HOST:PORT] [-gossip HOST:PORT -seeds A,B | -consul ADDR]
//	counter load -targets HOST:PORT,... [-duration 5s] [-concurrency 16] [-keys 200] [-consistency mixed] [-out acked.json]
//	counter check -target HOST:PORT [-in acked.json]
//
// See docs/counter.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// replicationFactor is R for every node the example starts.
const replicationFactor = 3

// Exit statuses.
const (
	exitOK     = 0 // done; for a check: converged, nothing lost, nothing duplicated
	exitFailed = 1 // something failed, or a check did not pass
	exitUsage  = 2 // bad flags
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run runs the program with args (without the program name) and returns its exit
// status. SIGINT and SIGTERM cancel the context it gives the mode it runs.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 {
		switch args[0] {
		case "node":
			return runNode(ctx, args[1:], stdout, stderr)
		case "load":
			return runLoad(ctx, args[1:], stdout, stderr)
		case "check":
			return runCheck(ctx, args[1:], stdout, stderr)
		}
	}
	return runLocal(ctx, args, stdout, stderr)
}

// parseFlags parses args into fs and returns the exit status to end with, if any.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, true
	case err != nil:
		return exitUsage, true
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return exitUsage, true
	}
	return 0, false
}

// usageError reports a bad flag value and returns the usage exit status.
func usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, format+"\n", args...)
	return exitUsage
}
