package main

import (
	"maps"
	"mime"
	"slices"
	"strconv"
	"strings"

	pb "github.com/legion-go/legion/examples/discovery/registrypb"
)

// graph is who calls whom, as GET /v1/graph answers it in JSON.
type graph struct {
	// Services are the graph's vertices, sorted: every registered service, every caller
	// and every service looked up.
	Services []string `json:"services"`
	// Calls maps each caller to the services it looked up, sorted.
	Calls map[string][]string `json:"calls"`
}

// buildGraph merges the index shards into one graph.
func buildGraph(shards []*pb.Index) graph {
	vertices := map[string]bool{}
	calls := map[string]map[string]bool{}
	for _, s := range shards {
		for name := range s.GetServices() {
			vertices[name] = true
		}
		for callee, cs := range s.GetCallers() {
			vertices[callee] = true
			for caller := range cs.GetFirstSeen() {
				vertices[caller] = true
				if calls[caller] == nil {
					calls[caller] = map[string]bool{}
				}
				calls[caller][callee] = true
			}
		}
	}
	g := graph{Services: slices.Sorted(maps.Keys(vertices)), Calls: map[string][]string{}}
	for caller, callees := range calls {
		g.Calls[caller] = slices.Sorted(maps.Keys(callees))
	}
	return g
}

// dot renders the graph in Graphviz's DOT language, deterministically.
func (g graph) dot() string {
	var b strings.Builder
	b.WriteString("digraph services {\n")
	for _, s := range g.Services {
		b.WriteString("  " + strconv.Quote(s) + ";\n")
	}
	for _, caller := range slices.Sorted(maps.Keys(g.Calls)) {
		for _, callee := range g.Calls[caller] {
			b.WriteString("  " + strconv.Quote(caller) + " -> " + strconv.Quote(callee) + ";\n")
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// acceptsDOT reports whether Accept header values ask for text/vnd.graphviz (with a
// non-zero quality); anything else gets JSON.
func acceptsDOT(accept []string) bool {
	for _, h := range accept {
		for r := range strings.SplitSeq(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
			if err != nil || mt != "text/vnd.graphviz" {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}
