package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Backend is where a stateless service instance keeps the counters. Its methods are
// called concurrently, by every HTTP request in flight, and block for at most ctx.
type Backend interface {
	// Increment adds by to the counter key and returns the value it answers with.
	Increment(ctx context.Context, key string, by int64) (int64, error)
	// Read returns the counter key's value (0 when it was never incremented).
	Read(ctx context.Context, key string) (int64, error)
	// Close releases the backend's connections.
	Close()
}

// Backend names, for [OpenBackend] and the service subcommand's -backend.
const (
	BackendUpsert      = "pg-upsert"     // PostgreSQL: INSERT ... ON CONFLICT DO UPDATE SET n = n + $2 RETURNING n
	BackendReadWrite   = "pg-read-write" // PostgreSQL: SELECT, then write the value read plus by (loses updates)
	BackendRedisIncrBy = "redis-incrby"  // Redis: INCRBY
)

// BackendConfig says how to reach the database of a backend.
type BackendConfig struct {
	// Postgres is a pgx connection string ("host=127.0.0.1 port=5432 user=bench
	// dbname=bench"), for the PostgreSQL backends.
	Postgres string
	// Redis is host:port of a Redis server, for the Redis backend.
	Redis string
	// Pool is the connections each instance keeps to its database. Zero: 24, enough for
	// a third of 64 clients (the harness runs three instances).
	Pool int
}

// DefaultPool is BackendConfig.Pool's default.
const DefaultPool = 24

// OpenBackend connects to the database of the named backend.
func OpenBackend(ctx context.Context, name string, c BackendConfig) (Backend, error) {
	if c.Pool <= 0 {
		c.Pool = DefaultPool
	}
	switch name {
	case BackendUpsert, BackendReadWrite:
		if c.Postgres == "" {
			return nil, fmt.Errorf("backend %s: no PostgreSQL connection string", name)
		}
		return openPostgres(ctx, c.Postgres, c.Pool, name == BackendReadWrite)
	case BackendRedisIncrBy:
		if c.Redis == "" {
			return nil, fmt.Errorf("backend %s: no Redis address", name)
		}
		return openRedis(ctx, c.Redis, c.Pool)
	}
	return nil, fmt.Errorf("backend %q: want %s, %s or %s", name, BackendUpsert, BackendReadWrite, BackendRedisIncrBy)
}

// maxKeyBytes bounds a counter's name, as in the counter example.
const maxKeyBytes = 256

// callTimeout bounds one request's work on the database, as the counter example bounds
// a call.
const callTimeout = 10 * time.Second

// counterJSON answers an increment or a read, in the counter example's shape.
type counterJSON struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
}

// errorJSON answers a request that failed.
type errorJSON struct {
	Error string `json:"error"`
}

// Handler serves the counter example's HTTP API on b: POST
// /counters/{key}/increment?by=N (200 {"key","value"}), GET /counters/{key}, GET
// /healthz. A consistency parameter is accepted and ignored: the database answers once
// the write is durable, which is the only level it has.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /counters/{key}/increment", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		if key == "" || len(key) > maxKeyBytes {
			writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("a counter's name has 1 to %d bytes", maxKeyBytes)})
			return
		}
		by := int64(1)
		if s := r.URL.Query().Get("by"); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v <= 0 {
				writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("by=%q: want a positive integer", s)})
				return
			}
			by = v
		}
		ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
		defer cancel()
		v, err := b.Increment(ctx, key, by)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, errorJSON{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, counterJSON{Key: key, Value: v})
	})
	mux.HandleFunc("GET /counters/{key}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
		defer cancel()
		v, err := b.Read(ctx, r.PathValue("key"))
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, errorJSON{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, counterJSON{Key: r.PathValue("key"), Value: v})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}

// Serve serves h on ln until ctx ends, then shuts the server down, letting requests in
// flight finish for up to 5 seconds.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if e := <-served; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
