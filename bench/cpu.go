package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// serverPIDs returns the processes of the database server a backend uses: the
// PostgreSQL postmaster and its children (one backend per connection, and the WAL
// writer, checkpointer, ...), or the Redis server.
func (s *Servers) serverPIDs(backend string) []int {
	if backend == BackendRedisIncrBy {
		if pid, ok := pidFile(filepath.Join(s.dir, "redis", "redis.pid")); ok {
			return []int{pid}
		}
		return nil
	}
	pm, ok := pidFile(filepath.Join(s.dir, "pg", "data", "postmaster.pid"))
	if !ok {
		return nil
	}
	return append([]int{pm}, childrenOf(pm)...)
}

// pidFile reads the process id on the first line of path.
func pidFile(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// cpuOf sums the user and system CPU time of pids (procCPU).
func cpuOf(pids []int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		c := procCPU(pid)
		d += c[0] + c[1]
	}
	return d
}
