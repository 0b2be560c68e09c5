package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Table prints results as one Markdown table: a row per workload, a column per system,
// each cell the range over rounds of the rate, p50 and p99, and the acknowledged
// increments lost over all rounds. A second table has the CPU time per increment of
// each system's processes.
func Table(w io.Writer, results []Result) {
	table(w, results, cell)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU per acknowledged increment, µs: the system's processes (three instances, and the database server's), not the load generator's")
	fmt.Fprintln(w)
	table(w, results, cpuCell)
}

func table(w io.Writer, results []Result, cell func([]Result) string) {
	var systems []System
	var workloads []Workload
	cells := map[[2]string][]Result{}
	for _, r := range results {
		if !slices.Contains(systems, r.System) {
			systems = append(systems, r.System)
		}
		if !slices.Contains(workloads, r.Workload) {
			workloads = append(workloads, r.Workload)
		}
		k := [2]string{r.Workload.Name, r.System.Name}
		cells[k] = append(cells[k], r)
	}
	slices.SortStableFunc(systems, func(a, b System) int { return indexOf(Systems, a) - indexOf(Systems, b) })
	head := []string{"workload"}
	for _, s := range systems {
		head = append(head, s.Name)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(head)))
	for _, wl := range workloads {
		row := []string{wl.Name}
		for _, s := range systems {
			row = append(row, cell(cells[[2]string{wl.Name, s.Name}]))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

func indexOf(ss []System, s System) int {
	if i := slices.Index(ss, s); i >= 0 {
		return i
	}
	return len(ss)
}

// cell formats one system's runs of one workload.
func cell(rs []Result) string {
	if len(rs) == 0 {
		return ""
	}
	var rates, p50s, p99s []float64
	var acked, lost, failed int64
	unread := false
	for _, r := range rs {
		rates = append(rates, r.Rate())
		p50s = append(p50s, ms(r.Quantile(0.5)))
		p99s = append(p99s, ms(r.Quantile(0.99)))
		acked += r.AckedTotal()
		lost += r.Lost
		failed += r.Failed
		unread = unread || r.Err != nil
	}
	s := fmt.Sprintf("%s/s, p50 %s ms, p99 %s ms, ", span(rates, rate), span(p50s, millis), span(p99s, millis))
	switch {
	case lost == 0:
		s += fmt.Sprintf("lost 0 of %d", acked)
	default:
		s += fmt.Sprintf("**lost %d of %d (%.1f%%)**", lost, acked, 100*float64(lost)/float64(acked))
	}
	if failed > 0 {
		s += fmt.Sprintf(", %d failed", failed)
	}
	if unread {
		s += " (some counts unread)"
	}
	return s
}

// cpuCell formats the range over rounds of the CPU per increment, in µs.
func cpuCell(rs []Result) string {
	if len(rs) == 0 {
		return ""
	}
	var us []float64
	for _, r := range rs {
		us = append(us, float64(r.CPUPerIncrement())/float64(time.Microsecond))
	}
	return span(us, func(v float64) string { return fmt.Sprintf("%.0f", v) })
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// span formats the range of vs: "lo-hi", or one value when they round alike.
func span(vs []float64, f func(float64) string) string {
	lo, hi := slices.Min(vs), slices.Max(vs)
	if a, b := f(lo), f(hi); a != b {
		return a + "-" + b
	}
	return f(lo)
}

// rate formats increments per second: 950, 1.4k, 12k.
func rate(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

// millis formats milliseconds with two significant digits (0.42, 8.1, 29).
func millis(v float64) string {
	switch {
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
