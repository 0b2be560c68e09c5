package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// redisBackend is a backend on Redis: INCRBY, one command, atomic on the server. The
// server is started with appendfsync always (scripts/start.sh), so a write is in the
// append-only file, synced, before Redis answers it. Safe for concurrent use.
type redisBackend struct{ c *redis.Client }

func openRedis(ctx context.Context, addr string, conns int) (*redisBackend, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: conns, MinIdleConns: conns})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return &redisBackend{c: c}, nil
}

func (r *redisBackend) Increment(ctx context.Context, key string, by int64) (int64, error) {
	return r.c.IncrBy(ctx, key, by).Result()
}

func (r *redisBackend) Read(ctx context.Context, key string) (int64, error) {
	n, err := r.c.Get(ctx, key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

func (r *redisBackend) Close() { r.c.Close() }

// redisValues reads the counters keys from the server at addr (absent ones are 0).
func redisValues(ctx context.Context, addr string, keys []string) (map[string]int64, error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	out := make(map[string]int64, len(keys))
	const chunk = 1000
	for i := 0; i < len(keys); i += chunk {
		part := keys[i:min(i+chunk, len(keys))]
		vs, err := c.MGet(ctx, part...).Result()
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		for j, v := range vs {
			s, ok := v.(string)
			if !ok {
				continue // nil: never incremented
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redis: %s = %q: %w", part[j], s, err)
			}
			out[part[j]] = n
		}
	}
	return out, nil
}
