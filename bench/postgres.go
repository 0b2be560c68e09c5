package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schema is the one table both PostgreSQL backends use. The harness creates it before it
// starts the instances (three instances creating it at once can collide in the catalog).
const schema = `CREATE TABLE IF NOT EXISTS counters (k text PRIMARY KEY, n bigint NOT NULL)`

// The statements. The upsert is one atomic statement: the row lock taken by ON CONFLICT
// DO UPDATE serialises concurrent increments of a key. The read-then-write is what an
// ORM's load-modify-save does: two statements, each its own transaction, so two
// concurrent increments can read the same value and both write it plus one.
const (
	upsertSQL = `INSERT INTO counters (k, n) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET n = counters.n + $2 RETURNING n`
	selectSQL = `SELECT n FROM counters WHERE k = $1`
	writeSQL  = `INSERT INTO counters (k, n) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET n = $2`
)

// postgres is a backend on PostgreSQL. Safe for concurrent use.
type postgres struct {
	pool      *pgxpool.Pool
	readWrite bool // the naive read-then-write instead of the atomic upsert
}

func openPostgres(ctx context.Context, dsn string, conns int, readWrite bool) (*postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = int32(conns)
	cfg.MinConns = int32(conns) // connected before the load starts
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &postgres{pool: pool, readWrite: readWrite}, nil
}

func (p *postgres) Increment(ctx context.Context, key string, by int64) (int64, error) {
	var n int64
	if !p.readWrite {
		err := p.pool.QueryRow(ctx, upsertSQL, key, by).Scan(&n)
		return n, err
	}
	n, err := p.Read(ctx, key)
	if err != nil {
		return 0, err
	}
	_, err = p.pool.Exec(ctx, writeSQL, key, n+by)
	return n + by, err
}

func (p *postgres) Read(ctx context.Context, key string) (int64, error) {
	var n int64
	err := p.pool.QueryRow(ctx, selectSQL, key).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

func (p *postgres) Close() { p.pool.Close() }

// createSchema creates the counters table on the server at dsn.
func createSchema(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, schema); err != nil {
		return fmt.Errorf("postgres: %s: %w", schema, err)
	}
	return nil
}

// postgresValues reads the counters keys from the server at dsn (absent ones are 0).
func postgresValues(ctx context.Context, dsn string, keys []string) (map[string]int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT k, n FROM counters WHERE k = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	out := make(map[string]int64, len(keys))
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}
