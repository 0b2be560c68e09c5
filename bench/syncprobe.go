package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// SyncLatency measures the disk under dir as the systems use it: n appends of 4 KiB to
// a file, each followed by fdatasync, as a write-ahead log does. It returns the median
// and the 99th percentile of one append and sync. Every durable system here pays one
// such sync on the path of an increment (Legion's replica that takes a fast call, the
// PostgreSQL WAL flush at commit, Redis' appendfsync always), so it bounds the 1-client
// rates on a given disk and day.
func SyncLatency(dir string, n int) (p50, p99 time.Duration, err error) {
	f, err := os.CreateTemp(dir, "sync-probe-")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := f.Write(buf); err != nil {
			return 0, 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, 0, fmt.Errorf("sync %s: %w", filepath.Base(f.Name()), err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat[n/2], lat[min(n-1, n*99/100)], nil
}
